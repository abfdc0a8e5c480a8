// Change listeners and Flows: delivered after commit, in order, on the chosen
// dispatcher; registered until removed, whether or not the token is kept.
package org.outpost

import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.lang.ref.WeakReference
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

class ListenerTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun collectionChangeFlowDeliversEachCommittedWrite(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.createCollection("children")
        val events = collecting { c.changeFlow().take(2).toList() }
        c.saveJson("a", "{}")
        c.write(listOf(WriteOperation.Save("b", "{}"), WriteOperation.Save("d", "{}")))
        val got = events.await()
        assertEquals(listOf(listOf("a"), listOf("b", "d")), got.map { it.docIds.sorted() })
        assertTrue(got.all { it.collection == "children" })
        assertTrue(got[0].sequence < got[1].sequence)
        db.close()
    }

    @Test
    fun documentFlowSeesOnlyItsDocument(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val first = collecting { c.documentChangeFlow("watched").first() }
        c.saveJson("other", "{}")
        c.saveJson("watched", """{"v":1}""")
        assertEquals(listOf("watched"), first.await().docIds)
        db.close()
    }

    @Test
    fun removingTheTokenStopsDelivery(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val seen = Collections.synchronizedList(mutableListOf<String>())
        val sawA = CountDownLatch(1)
        val token = c.addChangeListener { seen += it.docIds; sawA.countDown() }
        c.saveJson("a", "{}")
        assertTrue(sawA.await(TIMEOUT_MS, TimeUnit.MILLISECONDS))
        assertTrue(token.isActive)
        token.remove()
        assertFalse(token.isActive)
        // A listener still registered sees "b": by then the removed one would have been called.
        val sawB = CountDownLatch(1)
        val witness = c.addDocumentChangeListener("b") { sawB.countDown() }
        c.saveJson("b", "{}")
        assertTrue(sawB.await(TIMEOUT_MS, TimeUnit.MILLISECONDS))
        assertEquals(listOf("a"), seen.toList())
        witness.remove()
        token.remove() // removing twice is fine
        db.close()
    }

    /** Registers a listener recording into [seen] and keeps nothing of its token but a weak reference. */
    private fun listenWithoutKeepingTheToken(c: Collection, seen: MutableList<String>, latch: CountDownLatch): WeakReference<ListenerToken> =
        WeakReference(c.addChangeListener { seen += it.docIds; latch.countDown() })

    @Test
    fun aListenerWhoseTokenIsCollectedKeepsListening(): Unit = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val seen = Collections.synchronizedList(mutableListOf<String>())
        val latch = CountDownLatch(1)
        val collected = listenWithoutKeepingTheToken(c, seen, latch)
        eventually("the token is garbage-collected") { System.gc(); collected.get() == null }
        // Its cleaner (JNA's thread) frees the Rust handle after the collection: wait for a
        // canary registered with the same cleaner afterwards.
        val canary = CountDownLatch(1)
        com.sun.jna.internal.Cleaner.getCleaner().register(Any(), canary::countDown)
        eventually("the cleaner ran") { System.gc(); canary.count == 0L }
        c.saveJson("after-gc", "{}")
        assertTrue(latch.await(TIMEOUT_MS, TimeUnit.MILLISECONDS), "the listener must still be registered")
        assertEquals(listOf("after-gc"), seen.toList())
        db.close()
    }

    @Test
    fun callbacksRunInOrderOnTheChosenDispatcherAndMayCallBackIntoOutpost(): Unit = timed {
        val source = openDb(dir, "source.db")
        val target = openDb(dir, "target.db")
        repeat(20) { source.defaultCollection().saveJson("doc-$it", """{"i":$it}""") }
        val executor = Executors.newSingleThreadExecutor { Thread(it, "app-callbacks") }
        val appThread = executor.asCoroutineDispatcher()
        val threadNames = ConcurrentHashMap.newKeySet<String>()
        val bodiesReadInCallback = ConcurrentHashMap<String, String>()
        val sequences = Collections.synchronizedList(mutableListOf<Long>())
        val targetDocs = target.defaultCollection()
        val done = CountDownLatch(20)
        val token = targetDocs.addChangeListener(appThread) { event ->
            threadNames += Thread.currentThread().name
            sequences += event.sequence
            for (id in event.docIds) {
                // A call back into Outpost from the callback.
                kotlinx.coroutines.runBlocking { targetDocs.getDocument(id) }?.let { bodiesReadInCallback[id] = it.json; done.countDown() }
            }
        }
        val statusThreads = ConcurrentHashMap.newKeySet<String>()
        val replicator = source.replicator(DatabaseEndpoint(target)) { direction = Direction.PUSH }
        val statusToken = replicator.addChangeListener(appThread) { statusThreads += Thread.currentThread().name }
        replicator.run()
        assertTrue(done.await(TIMEOUT_MS, TimeUnit.MILLISECONDS), "not every replicated write was seen")
        assertEquals(20, bodiesReadInCallback.size)
        assertEquals("""{"i":7}""", bodiesReadInCallback["doc-7"])
        // (With coroutine debugging on, a thread's name gets " @coroutine#N" while it runs one.)
        assertTrue(threadNames.all { it.startsWith("app-callbacks") } && threadNames.isNotEmpty(), "change callbacks must run on the chosen dispatcher: $threadNames")
        assertEquals(sequences.sorted(), sequences.toList(), "callbacks must arrive in commit order")
        eventually("a status callback ran") { statusThreads.isNotEmpty() }
        assertTrue(statusThreads.all { it.startsWith("app-callbacks") }, "status callbacks must run on the chosen dispatcher: $statusThreads")
        token.remove(); statusToken.remove()
        executor.shutdown()
        source.close(); target.close()
    }
}
