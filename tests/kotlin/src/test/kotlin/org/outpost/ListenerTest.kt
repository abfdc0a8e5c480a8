// Change listeners and Flows: delivered after commit, from the writing
// thread (a Rust thread for replicated writes), removed by their handle.
package org.outpost

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
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

class ListenerTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun collectionChangeFlowDeliversEachCommittedWrite() = timed {
        val db = openDb(dir, "camp.db")
        val c = db.createCollection("children")
        val events = collecting { c.changeFlow().take(2).toList() }
        c.saveDocument("a", "{}")
        c.write(listOf(WriteOperation.Save("b", null, "{}"), WriteOperation.Save("d", null, "{}")))
        val got = events.await()
        assertEquals(listOf(listOf("a"), listOf("b", "d")), got.map { it.docIds.sorted() })
        assertTrue(got.all { it.collection == "children" })
        assertTrue(got[0].sequence < got[1].sequence)
        db.close()
    }

    @Test
    fun documentFlowSeesOnlyItsDocument() = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val first = collecting { c.documentChangeFlow("watched").first() }
        c.save("other", null, "{}")
        c.save("watched", null, """{"v":1}""")
        assertEquals(listOf("watched"), first.await().docIds)
        db.close()
    }

    @Test
    fun cancellingTheHandleStopsDelivery() {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val seen = Collections.synchronizedList(mutableListOf<String>())
        val handle = c.addChangeListener { seen += it.docIds }
        c.save("a", null, "{}")
        assertTrue(handle.isActive())
        handle.cancel()
        assertFalse(handle.isActive())
        c.save("b", null, "{}")
        // Listeners run synchronously after commit on the writing thread, so
        // nothing can still be in flight here.
        assertEquals(listOf("a"), seen.toList())
        handle.close()
        db.close()
    }

    /** Registers a listener recording into [seen] and keeps nothing of its handle but a weak reference. */
    private fun listenWithoutKeepingTheHandle(c: Collection, seen: MutableList<String>): WeakReference<ListenerHandle> =
        WeakReference(c.addChangeListener { seen += it.docIds })

    @Test
    fun aListenerWhoseHandleIsReleasedOrCollectedKeepsListening() = timed {
        val db = openDb(dir, "camp.db")
        val c = db.defaultCollection()
        val seen = Collections.synchronizedList(mutableListOf<String>())
        // Released explicitly: what a garbage collection of the handle does.
        c.addChangeListener { seen += it.docIds }.close()
        val collected = listenWithoutKeepingTheHandle(c, seen)
        eventually("the handle is garbage-collected") { System.gc(); collected.get() == null }
        // Its cleaner (JNA's thread) frees the Rust handle after the collection: wait for a
        // canary registered with the same cleaner afterwards.
        val canary = CountDownLatch(1)
        com.sun.jna.internal.Cleaner.getCleaner().register(Any(), canary::countDown)
        eventually("the cleaner ran") { System.gc(); canary.count == 0L }
        c.save("after-gc", null, "{}")
        assertEquals(listOf("after-gc", "after-gc"), seen.toList(), "both listeners must still be registered")
        db.close()
    }

    @Test
    fun callbacksArriveFromRustThreadsAndMayCallBackIntoOutpost() = timed {
        val source = openDb(dir, "source.db")
        val target = openDb(dir, "target.db")
        repeat(20) { source.defaultCollection().save("doc-$it", null, """{"i":$it}""") }
        val testThread = Thread.currentThread()
        val threadNames = ConcurrentHashMap.newKeySet<String>()
        val bodiesReadInCallback = ConcurrentHashMap<String, String>()
        val targetDocs = target.defaultCollection()
        val done = CountDownLatch(20)
        val handle = targetDocs.addChangeListener { event ->
            if (Thread.currentThread() !== testThread) threadNames += Thread.currentThread().name
            for (id in event.docIds) {
                // Re-entrant call from a Rust thread into Rust.
                targetDocs.get(id)?.let { bodiesReadInCallback[id] = it.body; done.countDown() }
            }
        }
        val statusThreads = ConcurrentHashMap.newKeySet<Thread>()
        val replicator = source.replicator(ReplicatorTarget.localDatabase(target)) { direction = Direction.PUSH }
        val statusHandle = replicator.addStatusListener(object : ReplicatorStatusListener {
            override fun onStatus(status: ReplicatorStatus) { statusThreads += Thread.currentThread() }
        })
        replicator.run()
        assertTrue(done.await(TIMEOUT_MS, TimeUnit.MILLISECONDS), "not every replicated write was seen")
        assertEquals(20, bodiesReadInCallback.size)
        assertEquals("""{"i":7}""", bodiesReadInCallback["doc-7"])
        assertTrue(threadNames.isNotEmpty(), "replicated writes must be reported from a Rust thread")
        assertTrue(statusThreads.isNotEmpty() && statusThreads.none { it === testThread })
        handle.close(); statusHandle.close(); replicator.close()
        source.close(); target.close()
    }
}
