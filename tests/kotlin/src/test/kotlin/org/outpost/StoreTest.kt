// The local store through the public Kotlin API: CRUD, collections, batches,
// the changes feed, each typed error, and what close() means.
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
    fun saveGetUpdateDeletePurgeRoundTrip(): Unit = timed {
        val db = Database.open(dir.resolve("camp.db").toString())
        assertEquals(dir.resolve("camp.db").toString(), db.path)
        assertEquals(36, db.uuid.length)
        val children = db.defaultCollection()
        assertEquals("_default", children.name)
        val rev1 = children.saveJson("child-1", """{"name":"Amina","age":7}""")
        val doc = children.getDocument("child-1")!!
        assertEquals(rev1, doc.rev)
        assertEquals("""{"age":7,"name":"Amina"}""", doc.json)
        assertTrue(rev1.startsWith("1-"))

        val rev2 = children.save("child-1", mapOf("name" to "Amina K.", "age" to 7), rev1)
        assertTrue(rev2.startsWith("2-"))
        assertEquals(rev2, children.getDocument("child-1")!!.rev)
        assertEquals(1L, children.count())

        val tombstone = children.delete("child-1", rev2)
        val deleted = children.getDocument("child-1")!!
        assertTrue(deleted.deleted)
        assertEquals(tombstone, deleted.rev)
        assertEquals(0L, children.count())
        assertTrue(children.getRevision("child-1", tombstone)!!.deleted)

        children.saveJson("child-2", "{}")
        assertTrue(children.purge("child-2"))
        assertNull(children.getDocument("child-2"))
        db.close()
    }

    @Test
    fun collectionsAreCreatedListedAndDeleted(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            db.createCollection("children").saveJson("c1", """{"n":1}""")
            db.createCollection("families")
            assertEquals(listOf("_default", "children", "families"), db.collectionNames())
            assertEquals(1L, db.collection("children").count())
            db.deleteCollection("children")
            assertEquals(listOf("_default", "families"), db.collectionNames())
            assertFailsWith<OutpostException.CollectionNotFound> { db.collection("children") }
        }
    }

    @Test
    fun batchWritesAllOrNothing(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val revs = c.write(listOf(
            WriteOperation.Save("a", """{"n":1}"""),
            saveOperation("b", mapOf("n" to 2)),
        ))
        assertEquals(2, revs.size)
        val before = db.lastSequence()
        assertFailsWith<OutpostException.InvalidInput> {
            c.write(listOf(
                WriteOperation.Delete("a", revs[0]!!),
                WriteOperation.Save("c", "not json"),
            ))
        }
        assertEquals(before, db.lastSequence(), "a failed batch must write nothing")
        assertEquals(2L, c.count())
        val results = c.write(listOf(
            WriteOperation.Delete("a", revs[0]!!),
            WriteOperation.Save("b", """{"n":3}""", revs[1]),
            WriteOperation.Purge("b"),
        ))
        assertTrue(results[0]!!.startsWith("2-") && results[1]!!.startsWith("2-"), results.toString())
        assertNull(results[2])
        assertEquals(0L, c.count())
        db.close()
    }

    @Test
    fun changesFeedListsEachDocumentOnceInSequenceOrder(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            val c = db.defaultCollection()
            val r = c.saveJson("a", "{}")
            c.saveJson("b", "{}")
            c.saveJson("a", """{"x":1}""", r)
            val page = c.changes()
            assertEquals(listOf("b", "a"), page.changes.map { it.id })
            assertEquals(db.lastSequence(), page.lastSequence)
            assertTrue(c.changes(page.lastSequence, 100).changes.isEmpty())
            assertEquals(listOf("b"), c.changes(since = 0, limit = 1).changes.map { it.id })
            assertFailsWith<IllegalArgumentException> { c.changes(since = -1) }
        }
    }

    @Test
    fun everyFailureIsATypedException(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val rev = c.saveJson("a", "{}")
        c.saveJson("a", """{"v":2}""", rev)

        val conflict = assertFailsWith<OutpostException.Conflict> { c.saveJson("a", """{"v":3}""", rev) }
        assertTrue(conflict.message!!.contains("fetch it again"), conflict.message)
        assertFailsWith<OutpostException.NotFound> { c.delete("missing", rev) }
        assertFailsWith<OutpostException.InvalidInput> { c.saveJson("b", "[1,2]") }
        assertFailsWith<OutpostException.InvalidInput> { c.saveJson("_reserved", "{}") }
        assertFailsWith<OutpostException.InvalidInput> { c.saveJson("b", "{}", "not-a-rev") }
        assertFailsWith<OutpostException.InvalidInput> { db.createCollection("bad name!") }
        assertFailsWith<OutpostException.CollectionNotFound> { db.collection("nope") }
        assertFailsWith<OutpostException.InvalidInput> {
            db.replicator(DatabaseEndpoint(db)) { collection("_default"); collection("_default") }
        }
        val garbage = Files.write(dir.resolve("garbage.db"), ByteArray(8192) { (it * 31).toByte() })
        // Without a key, a file that is not a plain database cannot be told from an encrypted one.
        assertFailsWith<OutpostException.WrongKey> { Database.open(garbage.toString()) }

        db.close()
        val closed = assertFailsWith<OutpostException.Closed> { c.getDocument("a") }
        assertTrue(closed.message!!.contains("open it again"), closed.message)
        // Every Outpost exception is one sealed type a caller can catch at once.
        val any: OutpostException = assertFailsWith<OutpostException> { db.defaultCollection() }
        assertTrue(any is OutpostException.Closed)
        db.close() // closing twice is fine
    }

    @Test
    fun closeClosesTheFileSoItCanBeOpenedAgainAtOnce(): Unit = timed {
        val path = dir.resolve("camp.db").toString()
        val db = Database.open(path)
        val children = db.defaultCollection()
        children.saveJson("child-1", "{}")
        db.close()
        assertFailsWith<OutpostException.Closed> { children.count() }
        Database.open(path).use { again -> assertEquals(1L, again.defaultCollection().count()) }
    }
}
