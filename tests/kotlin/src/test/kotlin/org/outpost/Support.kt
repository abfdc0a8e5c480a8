// Helpers shared by the Kotlin tests: temp databases, timeouts, and waiting
// on conditions (never sleeping as synchronisation).
package org.outpost

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.async
import kotlinx.coroutines.yield
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertNull

/** Upper bound for any single wait in a test. */
const val TIMEOUT_MS = 60_000L

/** Opens (creating) the database [name] under [dir]. */
suspend fun openDb(dir: Path, name: String): Database = Database.open(dir.resolve(name).toString())

/** Runs [block] in a coroutine that fails the test after [TIMEOUT_MS]. */
fun <T> timed(block: suspend CoroutineScope.() -> T): T = runBlocking { withTimeout(TIMEOUT_MS) { block() } }

/** Polls [condition] until it holds, failing after [timeoutMs] with [what]. */
suspend fun eventually(what: String, timeoutMs: Long = TIMEOUT_MS, condition: suspend () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (!condition()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting for: $what")
        delay(20)
    }
}

/** Runs [block] (timed) with [dir]/phone.db and [dir]/hub.db open, and closes them after. */
fun withPhoneAndHub(dir: Path, block: suspend CoroutineScope.(phone: Database, hub: Database) -> Unit) = timed {
    val phone = openDb(dir, "phone.db")
    val hub = openDb(dir, "hub.db")
    try {
        block(phone, hub)
    } finally {
        phone.close()
        hub.close()
    }
}

/**
 * Creates the collection "children" in [phone] and [hub] and writes the documents child-00000
 * to child-(count-1) into [phone]'s, 1,000 per transaction; returns that collection.
 */
suspend fun writeChildren(phone: Database, hub: Database, count: Int): Collection {
    hub.createCollection("children")
    val docs = phone.createCollection("children")
    for (chunk in (0 until count).chunked(1_000)) {
        docs.write(chunk.map { WriteOperation.Save("child-%05d".format(it), """{"i":$it,"name":"child $it"}""") })
    }
    return docs
}

/** Checks that [copy] holds the [count] documents of [writeChildren], samples at the same revisions. */
suspend fun assertChildrenCopied(docs: Collection, copy: Collection, count: Int) {
    assertEquals(count.toLong(), copy.count())
    for (i in listOf(0, 1, count / 2, count - 1)) {
        val id = "child-%05d".format(i)
        assertEquals(docs.getDocument(id)!!.rev, copy.getDocument(id)!!.rev)
        assertEquals("""{"i":$i,"name":"child $i"}""", copy.getDocument(id)!!.json)
    }
}

/** Body (JSON) of the document [id] in [db]'s default collection. */
suspend fun bodyOf(db: Database, id: String): String? = db.defaultCollection().getDocument(id)?.json

/**
 * Starts [block] (which collects a Flow) and returns once its listener is
 * registered: a Flow registers its listener in a producer coroutine, which
 * runs when the test's single-threaded event loop (runBlocking) next yields.
 */
suspend fun <T> CoroutineScope.collecting(block: suspend () -> T): Deferred<T> {
    val deferred = async(start = CoroutineStart.UNDISPATCHED) { block() }
    yield()
    return deferred
}

/** Starts a continuous [replicator] and waits until it has caught up (idle). */
suspend fun CoroutineScope.startUntilIdle(replicator: Replicator): ReplicatorStatus {
    val idle = collecting { replicator.statusFlow().first { it.activity == ActivityLevel.IDLE } }
    replicator.start()
    return idle.await()
}

/**
 * Drives a continuous push-and-pull [replicator] between [phone] and [hub] (whatever its
 * target): it reaches idle, a new write on each side reaches the other, and it stops cleanly.
 */
suspend fun CoroutineScope.assertContinuousSyncFollowsWritesAndStops(replicator: Replicator, phone: Database, hub: Database) {
    assertEquals(ActivityLevel.IDLE, startUntilIdle(replicator).activity)
    saveAndAwaitArrival(phone, hub, "late", """{"after":"idle"}""")
    saveAndAwaitArrival(hub, phone, "reply", """{"from":"hub"}""")
    val stopped = replicator.stopAndWait()
    assertEquals(ActivityLevel.STOPPED, stopped.activity)
    assertNull(stopped.error)
}

/** Saves [body] as [id] in [from] and waits until a running replicator has brought it to [to]. */
private suspend fun CoroutineScope.saveAndAwaitArrival(from: Database, to: Database, id: String, body: String) {
    val target = to.defaultCollection()
    val arrived = collecting { target.documentChangeFlow(id).first() }
    from.defaultCollection().saveJson(id, body)
    arrived.await()
    assertEquals(body, bodyOf(to, id))
}
