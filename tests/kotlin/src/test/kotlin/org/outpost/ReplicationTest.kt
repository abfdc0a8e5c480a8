// Local-to-local replication through the Kotlin API: status Flows,
// conflicts with a Kotlin resolver, filters, pending documents, volume.
package org.outpost

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.flow.transformWhile
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class ReplicationTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun oneShotStatusFlowEndsStoppedAndDocumentFlowReportsEachDocument() = withPhoneAndHub(dir) { phone, hub ->
        repeat(5) { phone.defaultCollection().save("child-$it", null, """{"i":$it}""") }
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub))
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
        assertEquals(5uL, hub.defaultCollection().count())
        replicator.close()
    }

    @Test
    fun continuousReplicationReachesIdleFollowsNewWritesAndStops() = withPhoneAndHub(dir) { phone, hub ->
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub)) { continuous = true }
        assertContinuousSyncFollowsWritesAndStops(replicator, phone, hub)
        replicator.close()
    }

    @Test
    fun releasingARunningContinuousReplicatorStopsIt() = withPhoneAndHub(dir) { phone, hub ->
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub)) { continuous = true }
        val stopped = CompletableDeferred<ReplicatorStatus>()
        val handle = replicator.addStatusListener(object : ReplicatorStatusListener {
            override fun onStatus(status: ReplicatorStatus) {
                if (status.activity == ActivityLevel.STOPPED) stopped.complete(status)
            }
        })
        startUntilIdle(replicator)
        assertTrue(!stopped.isCompleted)
        replicator.close() // frees the handle: nobody could stop it any more
        assertNull(stopped.await().error)
        handle.close()
    }

    @Test
    fun kotlinConflictResolverIsCalledDuringPullAndItsMergeIsKept() = withPhoneAndHub(dir) { phone, hub ->
        val base = phone.defaultCollection().save("child-1", null, """{"name":"Amina"}""")
        phone.replicator(ReplicatorTarget.localDatabase(hub)).run()
        phone.defaultCollection().save("child-1", base, """{"name":"Amina","camp":"north"}""")
        hub.defaultCollection().save("child-1", base, """{"name":"Amina","age":7}""")

        val seen = Collections.synchronizedList(mutableListOf<Conflict>())
        val resolverThreads = Collections.synchronizedSet(mutableSetOf<Thread>())
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub)) {
            direction = Direction.PULL
            collection("_default") {
                conflictResolver { conflict ->
                    seen += conflict
                    resolverThreads += Thread.currentThread()
                    // Deterministic merge: the union of both sides' fields.
                    val fields = conflict.revisions.flatMap { it.body.removeSurrounding("{", "}").split(",") }.toSortedSet()
                    Resolution.Merge(fields.joinToString(",", "{", "}"))
                }
            }
        }
        replicator.run()
        assertEquals(1, seen.size, "the resolver must be called once")
        assertEquals("child-1", seen[0].id)
        assertEquals(2, seen[0].revisions.size)
        assertTrue(resolverThreads.none { it === Thread.currentThread() })
        val merged = phone.defaultCollection().get("child-1")!!
        assertEquals("""{"age":7,"camp":"north","name":"Amina"}""", merged.body)
        assertTrue(merged.conflicts.isEmpty(), "the conflict must be closed: ${merged.conflicts}")
        assertNull(replicator.status().error)
        replicator.close()
    }

    @Test
    fun conflictWithoutAResolverKeepsTheDefaultWinnerOnBothSides() = timed {
        val a = openDb(dir, "a.db")
        val b = openDb(dir, "b.db")
        val base = a.defaultCollection().save("d", null, """{"v":0}""")
        a.replicator(ReplicatorTarget.localDatabase(b)).run()
        a.defaultCollection().save("d", base, """{"v":1}""")
        b.defaultCollection().save("d", base, """{"v":2}""")
        a.replicator(ReplicatorTarget.localDatabase(b)).run()
        b.replicator(ReplicatorTarget.localDatabase(a)).run()
        assertEquals(bodyOf(a, "d"), bodyOf(b, "d"))
        assertEquals(a.defaultCollection().get("d")!!.rev, b.defaultCollection().get("d")!!.rev)
        a.close(); b.close()
    }

    @Test
    fun pushFilterKeepsDraftsBackAndAThrowingFilterFailsClosed() = withPhoneAndHub(dir) { phone, hub ->
        val docs = phone.defaultCollection()
        docs.save("final", null, """{"draft":false}""")
        docs.save("draft", null, """{"draft":true}""")
        docs.save("explodes", null, """{"boom":true}""")
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub)) {
            direction = Direction.PUSH
            collection("_default") {
                pushFilter { rev ->
                    if (rev.body.contains("boom")) throw IllegalStateException("filter bug")
                    !rev.body.contains("\"draft\":true")
                }
            }
        }
        // Pending means "would be pushed": the filter is applied, and fails closed.
        assertEquals(listOf("final"), replicator.pendingDocumentIds("_default"))
        replicator.run()
        assertNotNull(hub.defaultCollection().get("final"))
        assertNull(hub.defaultCollection().get("draft"))
        assertNull(hub.defaultCollection().get("explodes"))
        assertTrue(replicator.isDocumentPending("_default", "final").not())
        replicator.close()
    }

    @Test
    fun tenThousandDocumentsReplicateBetweenTwoDatabases() = withPhoneAndHub(dir) { phone, hub ->
        val docs = writeChildren(phone, hub, 10_000)
        val replicator = phone.replicator(ReplicatorTarget.localDatabase(hub)) { collection("children") }
        replicator.run()
        val status = replicator.status()
        assertEquals(ActivityLevel.STOPPED, status.activity)
        assertNull(status.error)
        assertChildrenCopied(docs, hub.collection("children"), 10_000)
        assertTrue(replicator.pendingDocumentIds("children").isEmpty())
        replicator.close()
    }
}
