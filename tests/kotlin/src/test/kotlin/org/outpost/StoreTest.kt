// The local store through the Kotlin API: CRUD, collections, batches,
// the changes feed, and each typed error.
package org.outpost

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Files
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

class StoreTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun saveGetUpdateDeletePurgeRoundTrip() = timed {
        val db = openDatabase(dir.resolve("camp.db").toString())
        val children = db.defaultCollection()
        val rev1 = children.saveDocument("child-1", """{"name":"Amina","age":7}""")
        val doc = children.getDocument("child-1")!!
        assertEquals(rev1, doc.rev)
        assertEquals("""{"age":7,"name":"Amina"}""", doc.body)
        assertTrue(rev1.startsWith("1-"))

        val rev2 = children.saveDocument("child-1", """{"name":"Amina K.","age":7}""", rev1)
        assertTrue(rev2.startsWith("2-"))
        assertEquals(rev2, children.get("child-1")!!.rev)
        assertEquals(1uL, children.count())

        val tombstone = children.deleteDocument("child-1", rev2)
        val deleted = children.getDocument("child-1")!!
        assertTrue(deleted.deleted)
        assertEquals(tombstone, deleted.rev)
        assertEquals(0uL, children.count())
        assertTrue(children.getRevision("child-1", tombstone)!!.deleted)

        children.save("child-2", null, "{}")
        assertTrue(children.purge("child-2"))
        assertNull(children.get("child-2"))
        db.close()
    }

    @Test
    fun collectionsAreCreatedListedAndDeleted() {
        openDb(dir, "camp.db").use { db ->
            db.createCollection("children").save("c1", null, """{"n":1}""")
            db.createCollection("families")
            assertEquals(listOf("_default", "children", "families"), db.collectionNames())
            assertEquals(1uL, db.collection("children").count())
            db.deleteCollection("children")
            assertEquals(listOf("_default", "families"), db.collectionNames())
            assertFailsWith<OutpostException.CollectionNotFound> { db.collection("children") }
        }
    }

    @Test
    fun batchWritesAllOrNothing() = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val revs = c.write(listOf(
            WriteOperation.Save("a", null, """{"n":1}"""),
            WriteOperation.Save("b", null, """{"n":2}"""),
        ))
        assertEquals(2, revs.size)
        val before = db.lastSequence()
        assertFailsWith<OutpostException.InvalidInput> {
            c.write(listOf(
                WriteOperation.Delete("a", revs[0]!!),
                WriteOperation.Save("c", null, "not json"),
            ))
        }
        assertEquals(before, db.lastSequence(), "a failed batch must write nothing")
        assertEquals(2uL, c.count())
        val results = c.write(listOf(
            WriteOperation.Delete("a", revs[0]!!),
            WriteOperation.Save("b", revs[1], """{"n":3}"""),
            WriteOperation.Purge("b"),
        ))
        assertTrue(results[0]!!.startsWith("2-") && results[1]!!.startsWith("2-"), results.toString())
        assertNull(results[2])
        assertEquals(0uL, c.count())
        db.close()
    }

    @Test
    fun changesFeedListsEachDocumentOnceInSequenceOrder() {
        openDb(dir, "camp.db").use { db ->
            val c = db.defaultCollection()
            val r = c.save("a", null, "{}")
            c.save("b", null, "{}")
            c.save("a", r, """{"x":1}""")
            val page = c.changes(0uL, 100u)
            assertEquals(listOf("b", "a"), page.changes.map { it.id })
            assertEquals(db.lastSequence(), page.lastSequence)
            assertTrue(c.changes(page.lastSequence, 100u).changes.isEmpty())
        }
    }

    @Test
    fun everyFailureIsATypedException() {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val rev = c.save("a", null, "{}")
        c.save("a", rev, """{"v":2}""")

        val conflict = assertFailsWith<OutpostException.Conflict> { c.save("a", rev, """{"v":3}""") }
        assertTrue(conflict.message!!.contains("fetch it again"), conflict.message)
        assertFailsWith<OutpostException.NotFound> { c.delete("missing", rev) }
        assertFailsWith<OutpostException.InvalidInput> { c.save("b", null, "[1,2]") }
        assertFailsWith<OutpostException.InvalidInput> { c.save("_reserved", null, "{}") }
        assertFailsWith<OutpostException.InvalidInput> { c.save("b", "not-a-rev", "{}") }
        assertFailsWith<OutpostException.InvalidInput> { db.createCollection("bad name!") }
        assertFailsWith<OutpostException.CollectionNotFound> { db.collection("nope") }
        assertFailsWith<OutpostException.InvalidInput> {
            Replicator(db, ReplicatorTarget.localDatabase(db), ReplicatorConfig(
                collections = listOf(CollectionReplication("_default"), CollectionReplication("_default")),
            ))
        }
        val garbage = Files.write(dir.resolve("garbage.db"), ByteArray(8192) { (it * 31).toByte() })
        assertFailsWith<OutpostException.Storage> { Database.open(garbage.toString(), DatabaseConfig()) }

        db.closeDatabase()
        val closed = assertFailsWith<OutpostException.Closed> { c.get("a") }
        assertTrue(closed.message!!.contains("open it again"), closed.message)
        // Every Outpost exception is one sealed type a caller can catch at once.
        val any: OutpostException = assertFailsWith<OutpostException> { db.defaultCollection() }
        assertTrue(any is OutpostException.Closed)
        db.close()
    }
}
