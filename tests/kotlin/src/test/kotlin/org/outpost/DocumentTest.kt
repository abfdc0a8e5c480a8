// Typed documents: app classes through kotlinx.serialization, maps, and
// `update` under contention.
package org.outpost

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.Serializable
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

@Serializable
data class Child(val name: String, val age: Int, val camp: String? = null)

@Serializable
data class Counter(val n: Int)

class DocumentTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun typedDocumentsRoundTripAndFieldsUnknownToTheClassAreIgnored(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val children = db.createCollection("children")
        val rev = children.save("child-1", Child("Amina", 7))
        val doc = children.get<Child>("child-1")!!
        assertEquals(Child("Amina", 7), doc.value)
        assertEquals(rev, doc.rev)
        assertEquals("""{"age":7,"camp":null,"name":"Amina"}""", children.getDocument("child-1")!!.json)
        assertEquals(Child("Amina", 7), children.getDocument("child-1")!!.decode<Child>())

        // A newer app version's field does not break this one.
        children.saveJson("child-2", """{"name":"Omar","age":5,"photo":"p-1"}""")
        assertEquals(Child("Omar", 5), children.get<Child>("child-2")!!.value)
        assertNull(children.get<Child>("missing"))

        val rev2 = children.save("child-1", Child("Amina K.", 7), rev)
        assertFailsWith<OutpostException.Conflict> { children.save("child-1", Child("stale", 1), rev) }
        children.delete("child-1", rev2)
        assertNull(children.get<Child>("child-1"), "a deleted document reads as none")
        db.close()
    }

    @Test
    fun mapsRoundTripWithNestedValues(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        c.save("m", mapOf("name" to "Amina", "age" to 7, "tags" to listOf("a", null), "nested" to mapOf("x" to 1.5, "ok" to true)))
        assertEquals(
            mapOf("age" to 7L, "name" to "Amina", "nested" to mapOf("ok" to true, "x" to 1.5), "tags" to listOf("a", null)),
            c.getDocument("m")!!.toMap(),
        )
        assertFailsWith<OutpostException.InvalidInput> { c.save("bad", mapOf("when" to java.util.Date())) }
        assertNull(c.getDocument("bad"))
        db.close()
    }

    @Test
    fun aConflictResolverSeesDecodedDocumentsAndMergesATypedValue() = withPhoneAndHub(dir) { phone, hub ->
        val base = phone.defaultCollection().save("child-1", Child("Amina", 7))
        phone.replicator(DatabaseEndpoint(hub)).run()
        phone.defaultCollection().save("child-1", Child("Amina", 7, camp = "north"), base)
        hub.defaultCollection().save("child-1", Child("Amina", 8), base)
        val replicator = phone.replicator(DatabaseEndpoint(hub)) {
            direction = Direction.PULL
            collection("_default") {
                conflictResolver { conflict ->
                    val sides = conflict.revisions.map { it.decode<Child>() }
                    assertEquals(setOf(7L, 8L), conflict.revisions.map { it.body["age"] }.toSet())
                    mergeOf(Child("Amina", sides.maxOf { it.age }, sides.firstNotNullOfOrNull { it.camp }))
                }
            }
        }
        replicator.run()
        assertEquals(Child("Amina", 8, "north"), phone.defaultCollection().get<Child>("child-1")!!.value)
    }

    @Test
    fun updateRetriesALostRaceWithFreshData(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val aRead = CountDownLatch(1)
        val bSaved = CountDownLatch(1)
        val aCalls = AtomicInteger()
        coroutineScope {
            launch(Dispatchers.IO) {
                c.update<Counter>("counter") { current ->
                    if (aCalls.incrementAndGet() == 1) {
                        // A has read (no document yet); B saves before A does.
                        aRead.countDown()
                        check(bSaved.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "B never saved" }
                    }
                    Counter((current?.n ?: 0) + 10)
                }
            }
            launch(Dispatchers.IO) {
                check(aRead.await(TIMEOUT_MS, TimeUnit.MILLISECONDS)) { "A never read" }
                c.update<Counter>("counter") { Counter((it?.n ?: 0) + 1) }
                bSaved.countDown()
            }
        }
        assertEquals(2, aCalls.get(), "A's change must be called again after losing the race")
        assertEquals(11, c.get<Counter>("counter")!!.value.n, "no update may be lost")
        db.close()
    }

    @Test
    fun updateUnderContentionFromTwoCoroutinesLosesNoIncrement(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val calls = AtomicInteger()
        coroutineScope {
            repeat(2) {
                launch(Dispatchers.IO) {
                    repeat(100) {
                        c.update<Counter>("counter", maxAttempts = 1_000) { calls.incrementAndGet(); Counter((it?.n ?: 0) + 1) }
                    }
                }
            }
        }
        assertEquals(200, c.get<Counter>("counter")!!.value.n)
        assertTrue(calls.get() >= 200)
        db.close()
    }

    @Test
    fun updateGivesUpAfterMaxAttempts(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        c.save("counter", Counter(0))
        // Every attempt loses: the change itself saves first.
        assertFailsWith<OutpostException.Conflict> {
            c.update<Counter>("counter", maxAttempts = 3) { current ->
                val doc = runBlocking { c.getDocument("counter")!! }
                runBlocking { c.saveJson("counter", """{"n":${doc.decode<Counter>().n + 100}}""", doc.rev) }
                Counter(current!!.n + 1)
            }
        }
        assertEquals(300, c.get<Counter>("counter")!!.value.n)
        db.close()
    }
}
