// Queries through the public Kotlin API: the selector DSL and raw JSON,
// typed results, indexes and explain, full-text search, live queries as a
// Flow, and typed errors for what is not supported.
package org.outpost

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.serialization.Serializable
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

@Serializable
data class Kid(val name: String, val age: Int, val camp: String, val tags: List<String> = emptyList())

class QueryTest {
    @TempDir
    lateinit var dir: Path

    private suspend fun children(db: Database): Collection {
        val c = db.createCollection("children")
        c.save("c1", Kid("Amina Diallo", 7, "north", listOf("new", "sick")))
        c.save("c2", Kid("Yusuf", 12, "north", listOf("new")))
        c.save("c3", Kid("AMÍNA", 5, "south"))
        c.save("c4", mapOf("name" to "Leila", "camp" to "south"))
        return c
    }

    @Test
    fun dslAndRawSelectorsFindTheSameDocuments(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            val c = children(db)
            val q = Query.where((field("camp") eq "north") and (field("age") lt 10))
            assertEquals(listOf("c1"), c.find(q).map { it.id })
            assertEquals(c.find(q), c.find(Query.raw("""{"camp": "north", "age": {"${'$'}lt": 10}}""")))
            val typed = c.findAs<Kid>(Query.where(field("age") gte 5).orderBy("age", descending = true).limit(2))
            assertEquals(listOf("Yusuf", "Amina Diallo"), typed.map { it.value.name })
            assertEquals(listOf("c3", "c1", "c2"), c.find(Query.where(field("age") isType "number").orderBy("age")).map { it.id })
            assertEquals(listOf("c4"), c.find(Query.where(field("age").exists(false))).map { it.id })
            assertEquals(listOf("c1"), c.find(Query.where(field("tags") containsAll listOf("new", "sick"))).map { it.id })
            assertEquals(listOf("c2", "c4"), c.find(Query.where(not(field("name") matches "(?i)^am"))).map { it.id })
            assertEquals(listOf("c3", "c4"), c.find(Query.where(anyOf(field("camp") eq "south", field("age") isIn listOf(99)))).map { it.id })
            val projected = c.find(Query.where(field("camp") eq "south").fields("name").skip(1))
            assertEquals(listOf("""{"name":"Leila"}"""), projected.map { it.json })
            assertEquals(4L, c.count(Query.where(Selector.all).limit(1)))
        }
    }

    @Test
    fun indexesAreUsedListedAndDeletedAndTextSearchIgnoresAccents(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            val c = children(db)
            val byAge = Query.where(field("age") gt 6)
            assertNull(c.explain(byAge))
            c.createIndex("by_age", "age")
            c.createTextIndex("names", "name")
            assertEquals("by_age", c.explain(byAge))
            assertEquals(
                listOf(IndexInfo("by_age", IndexKind.VALUE, listOf("age")), IndexInfo("names", IndexKind.TEXT, listOf("name"))),
                c.indexes(),
            )
            for (spelling in listOf("Amina", "amína", "AMINA")) {
                assertEquals(setOf("c1", "c3"), c.search(spelling).map { it.document.id }.toSet(), spelling)
            }
            assertEquals(listOf("c1"), c.find(Query.where(text("ami*") and (field("age") gt 6))).map { it.id })
            assertTrue(c.deleteIndex("by_age"))
            assertNull(c.explain(byAge))
        }
    }

    @Test
    fun liveQueryFlowFollowsChanges(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            val c = children(db)
            val results = collecting { c.liveQuery(Query.where(field("camp") eq "north").orderBy("name")).take(2).toList() }
            // The first list is the current results; the next follows a change that alters them.
            c.saveJson("c5", """{"name":"Bilal","camp":"north"}""")
            val lists = results.await()
            assertEquals(listOf("c1", "c2"), lists[0].map { it.id })
            assertEquals(listOf("c1", "c5", "c2"), lists[1].map { it.id })
            val typed = c.liveQueryAs<Kid>(Query.where(field("camp") eq "south" and (field("age") gt 0))).first()
            assertEquals(listOf("AMÍNA"), typed.map { it.value.name })
        }
    }

    @Test
    fun unsupportedOperatorsAndBadSelectorsAreTypedErrors(): Unit = timed {
        openDb(dir, "camp.db").use { db ->
            val c = children(db)
            val e = assertFailsWith<OutpostException.InvalidInput> { c.find(Query.raw("""{"age": {"${'$'}mod": [2, 0]}}""")) }
            assertTrue(e.message!!.contains("\$mod"), e.message)
            assertFailsWith<OutpostException.InvalidInput> { Query.raw("[1]") }
            assertFailsWith<OutpostException.InvalidInput> { c.search("amina") }
            assertFailsWith<OutpostException.InvalidInput> { c.find(Query.where(field("age") isIn List(5_000) { it })) }
            assertFailsWith<OutpostException.InvalidInput> { c.createIndex("bad name", "age") }
            assertEquals(4L, c.count())
        }
    }
}
