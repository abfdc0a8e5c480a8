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

/** Upper bound for any single wait in a test. */
const val TIMEOUT_MS = 60_000L

/** Opens (creating) the database [name] under [dir]. */
fun openDb(dir: Path, name: String): Database = Database.open(dir.resolve(name).toString(), DatabaseConfig())

/** Runs [block] in a coroutine that fails the test after [TIMEOUT_MS]. */
fun <T> timed(block: suspend CoroutineScope.() -> T): T = runBlocking { withTimeout(TIMEOUT_MS) { block() } }

/** Polls [condition] until it holds, failing after [timeoutMs] with [what]. */
suspend fun eventually(what: String, timeoutMs: Long = TIMEOUT_MS, condition: () -> Boolean) {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (!condition()) {
        if (System.nanoTime() > deadline) throw AssertionError("timed out waiting for: $what")
        delay(20)
    }
}

/** A one-shot push-and-pull config of the default collection. */
fun oneShot(): ReplicatorConfig = ReplicatorConfig()

/** Body of the document [id] in [db]'s default collection. */
fun bodyOf(db: Database, id: String): String? = db.defaultCollection().get(id)?.body

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
