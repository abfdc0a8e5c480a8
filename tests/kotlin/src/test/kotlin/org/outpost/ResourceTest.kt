// Closing everything (databases, replicators, network listeners) leaves
// nothing running: no JVM thread that would keep the app alive, and no native
// threads piling up across open/close cycles.
package org.outpost

import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import kotlin.test.assertEquals

class ResourceTest {
    @TempDir
    lateinit var dir: Path

    private fun nonDaemonThreads(): Set<String> =
        Thread.getAllStackTraces().keys.filter { it.isAlive && !it.isDaemon }.map { it.name }.toSet()

    /** Native threads of the Outpost runtime (named outpost-worker), read from /proc. */
    private fun outpostThreads(): Int =
        (File("/proc/self/task").listFiles() ?: error("no /proc/self/task"))
            .count { runCatching { File(it, "comm").readText().trim() }.getOrNull() == "outpost-worker" }

    /**
     * One full cycle: open three databases, replicate continuously with change and status
     * listeners, locally and over TLS through a network Listener, then close everything.
     */
    private suspend fun cycle(n: Int) {
        val a = openDb(dir, "a$n.db")
        val b = openDb(dir, "b$n.db")
        val docs = a.defaultCollection()
        repeat(50) { docs.saveJson("d$it", """{"i":$it}""") }
        val changes = b.defaultCollection().addChangeListener { }
        val replicator = a.replicator(DatabaseEndpoint(b)) { continuous = true }
        val status = replicator.addChangeListener { }
        replicator.start()
        eventually("50 documents replicated") { b.defaultCollection().count() == 50L }
        replicator.stopAndWait()

        val c = openDb(dir, "c$n.db")
        val listener = Listener.start(
            b,
            ListenerConfig(ListenerAuthenticator.password { u, p -> u == "hub" && p == "pw" }, networkInterface = "127.0.0.1"),
        )
        val remote = c.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("hub", "pw")
            pinFingerprint(listener.fingerprint!!)
            continuous = true
        }
        remote.start()
        eventually("50 documents pulled over TLS") { c.defaultCollection().count() == 50L }
        remote.stopAndWait()
        listener.stop()
        eventually("the listener's connections closed") { listener.connectionStatus.connections == 0 }
        status.remove(); changes.remove()
        a.close(); b.close(); c.close()
    }

    @Test
    fun closingEverythingLeavesNoThreadRunningOrLeaking(): Unit = timed {
        assumeTrue(File("/proc/self/task").isDirectory, "counts native threads through Linux /proc")
        val nonDaemonBefore = nonDaemonThreads()
        for (n in 0 until 5) cycle(n)
        // The runtime keeps its 2 workers; its blocking threads exit 2 s
        // after their last job. Wait for that (bounded), not a fixed time.
        var now = -1
        eventually("only the 2 runtime workers remain (now $now)", 20_000) {
            now = outpostThreads(); now == 2
        }
        assertEquals(nonDaemonBefore, nonDaemonThreads(), "a non-daemon thread was left running")
    }
}
