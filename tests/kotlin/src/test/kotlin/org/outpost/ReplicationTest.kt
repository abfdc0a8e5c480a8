// Local-to-local replication through the Kotlin API: status Flows,
// conflicts with a Kotlin resolver, filters, pending documents, volume.
package org.outpost

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.flow.transformWhile
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.lang.ref.WeakReference
import java.util.Collections
import java.util.concurrent.CountDownLatch
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class ReplicationTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun oneShotStatusFlowEndsStoppedAndDocumentFlowReportsEachDocument() = withPhoneAndHub(dir) { phone, hub ->
        repeat(5) { phone.defaultCollection().saveJson("child-$it", """{"i":$it}""") }
        val replicator = phone.replicator(DatabaseEndpoint(hub))
        val statuses = collecting {
            // From the initial Stopped, through the run, until it stops again.
            var started = false
            replicator.statusFlow().transformWhile {
                emit(it)
                if (it.activity != ActivityLevel.STOPPED) started = true
                !(started && it.activity == ActivityLevel.STOPPED)
            }.toList()
        }
        val documents = collecting {
            var count = 0
            replicator.documentFlow().transformWhile { emit(it); count += it.size; count < 5 }.toList()
        }
        replicator.start()
        val all = statuses.await()
        assertTrue(all.any { it.activity == ActivityLevel.BUSY }, "never busy: $all")
        val last = all.last()
        assertEquals(ActivityLevel.STOPPED, last.activity)
        assertNull(last.error)
        assertEquals(last.total, last.completed)
        val events = documents.await().flatten()
        assertEquals((0 until 5).map { "child-$it" }, events.map { it.id }.sorted())
        assertTrue(events.all { it.direction == Direction.PUSH && it.error == null })
        assertEquals(5L, hub.defaultCollection().count())
    }

    @Test
    fun continuousReplicationReachesIdleFollowsNewWritesAndStops() = withPhoneAndHub(dir) { phone, hub ->
        val replicator = phone.replicator(DatabaseEndpoint(hub)) { continuous = true }
        assertContinuousSyncFollowsWritesAndStops(replicator, phone, hub)
    }

    @Test
    fun cancellingTheCoroutineThatRunsAReplicatorStopsIt() = withPhoneAndHub(dir) { phone, hub ->
        val replicator = phone.replicator(DatabaseEndpoint(hub)) { continuous = true }
        val idle = collecting { replicator.statusFlow().first { it.activity == ActivityLevel.IDLE } }
        val run = launch { replicator.run() }
        idle.await()
        val stopped = collecting { replicator.statusFlow().first { it.activity == ActivityLevel.STOPPED } }
        run.cancelAndJoin()
        assertNull(stopped.await().error, "stopped by the cancellation, not by a failure")
    }

    @Test
    fun aRunningReplicatorKeptWithoutAReferenceSurvivesGarbageCollection() = withPhoneAndHub(dir) { phone, hub ->
        val idle = CompletableDeferred<Unit>()
        val stopped = CompletableDeferred<ReplicatorStatus>()
        val (weak, token) = startWithoutKeepingIt(phone, hub) {
            if (it.activity == ActivityLevel.IDLE) idle.complete(Unit)
            if (it.activity == ActivityLevel.STOPPED) stopped.complete(it)
        }
        idle.await()
        eventually("the replicator object is garbage-collected") { System.gc(); weak.get() == null }
        val canary = CountDownLatch(1)
        com.sun.jna.internal.Cleaner.getCleaner().register(Any(), canary::countDown)
        eventually("the cleaner ran") { System.gc(); canary.count == 0L }
        // Still replicating: a new write reaches the hub.
        val hubDocs = hub.defaultCollection()
        val arrived = collecting { hubDocs.documentChangeFlow("after-gc").first() }
        phone.defaultCollection().saveJson("after-gc", "{}")
        arrived.await()
        assertFalse(stopped.isCompleted, "a garbage collection must not stop a replicator")
        token.remove()
        // Nothing can stop it now (that is the point): it idles until the test JVM exits, its
        // databases closed by withPhoneAndHub.
    }

    /** Starts a continuous replicator calling [onStatus], keeping only a weak reference to it. */
    private fun startWithoutKeepingIt(phone: Database, hub: Database, onStatus: (ReplicatorStatus) -> Unit): Pair<WeakReference<Replicator>, ListenerToken> {
        val replicator = phone.replicator(DatabaseEndpoint(hub)) { continuous = true }
        val token = replicator.addChangeListener(Dispatchers.Default, onStatus)
        replicator.start()
        return WeakReference(replicator) to token
    }

    @Test
    fun kotlinConflictResolverIsCalledDuringPullAndItsMergeIsKept() = withPhoneAndHub(dir) { phone, hub ->
        val base = phone.defaultCollection().saveJson("child-1", """{"name":"Amina"}""")
        phone.replicator(DatabaseEndpoint(hub)).run()
        phone.defaultCollection().saveJson("child-1", """{"name":"Amina","camp":"north"}""", base)
        hub.defaultCollection().saveJson("child-1", """{"name":"Amina","age":7}""", base)

        val seen = Collections.synchronizedList(mutableListOf<Conflict>())
        val resolverThreads = Collections.synchronizedSet(mutableSetOf<Thread>())
        val replicator = phone.replicator(DatabaseEndpoint(hub)) {
            direction = Direction.PULL
            collection("_default") {
                conflictResolver { conflict ->
                    seen += conflict
                    resolverThreads += Thread.currentThread()
                    // Deterministic merge: the union of both sides' fields.
                    val fields = conflict.revisions.flatMap { it.json.removeSurrounding("{", "}").split(",") }.toSortedSet()
                    Resolution.Merge(fields.joinToString(",", "{", "}"))
                }
            }
        }
        replicator.run()
        assertEquals(1, seen.size, "the resolver must be called once")
        assertEquals("child-1", seen[0].id)
        assertEquals(2, seen[0].revisions.size)
        assertTrue(resolverThreads.none { it === Thread.currentThread() })
        val merged = phone.defaultCollection().getDocument("child-1")!!
        assertEquals("""{"age":7,"camp":"north","name":"Amina"}""", merged.json)
        assertTrue(merged.conflicts.isEmpty(), "the conflict must be closed: ${merged.conflicts}")
        assertNull(replicator.status.error)
    }

    @Test
    fun conflictWithoutAResolverKeepsTheDefaultWinnerOnBothSides(): Unit = timed {
        val a = openDb(dir, "a.db")
        val b = openDb(dir, "b.db")
        val base = a.defaultCollection().saveJson("d", """{"v":0}""")
        a.replicator(DatabaseEndpoint(b)).run()
        a.defaultCollection().saveJson("d", """{"v":1}""", base)
        b.defaultCollection().saveJson("d", """{"v":2}""", base)
        a.replicator(DatabaseEndpoint(b)).run()
        b.replicator(DatabaseEndpoint(a)).run()
        assertEquals(bodyOf(a, "d"), bodyOf(b, "d"))
        assertEquals(a.defaultCollection().getDocument("d")!!.rev, b.defaultCollection().getDocument("d")!!.rev)
        a.close(); b.close()
    }

    @Test
    fun pushFilterKeepsDraftsBackAndAThrowingFilterFailsClosed() = withPhoneAndHub(dir) { phone, hub ->
        val docs = phone.defaultCollection()
        docs.saveJson("final", """{"draft":false}""")
        docs.saveJson("draft", """{"draft":true}""")
        docs.saveJson("explodes", """{"boom":true}""")
        val replicator = phone.replicator(DatabaseEndpoint(hub)) {
            direction = Direction.PUSH
            collection("_default") {
                pushFilter { rev ->
                    if (rev.body["boom"] == true) throw IllegalStateException("filter bug")
                    rev.body["draft"] != true
                }
            }
        }
        // Pending means "would be pushed": the filter is applied, and fails closed.
        assertEquals(setOf("final"), replicator.pendingDocumentIds())
        replicator.run()
        assertNotNull(hub.defaultCollection().getDocument("final"))
        assertNull(hub.defaultCollection().getDocument("draft"))
        assertNull(hub.defaultCollection().getDocument("explodes"))
        assertTrue(replicator.isDocumentPending("final").not())
    }

    @Test
    fun tenThousandDocumentsReplicateBetweenTwoDatabases() = withPhoneAndHub(dir) { phone, hub ->
        val docs = writeChildren(phone, hub, 10_000)
        val replicator = phone.replicator(DatabaseEndpoint(hub)) { collection("children") }
        replicator.run()
        val status = replicator.status
        assertEquals(ActivityLevel.STOPPED, status.activity)
        assertNull(status.error)
        assertChildrenCopied(docs, hub.collection("children"), 10_000)
        assertTrue(replicator.pendingDocumentIds("children").isEmpty())
    }
}
