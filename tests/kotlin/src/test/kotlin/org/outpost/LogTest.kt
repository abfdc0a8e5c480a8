// The logging hook: core's messages reach the app's sink at its level, and a
// failed login's password never does.
package org.outpost

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.Collections
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue

class LogTest {
    @TempDir
    lateinit var dir: Path

    private data class Record(val level: LogLevel, val domain: String, val message: String)

    private val records = Collections.synchronizedList(mutableListOf<Record>())

    @AfterEach
    fun stopLogging() {
        OutpostLog.sink = null
        OutpostLog.level = LogLevel.WARNING
    }

    @Test
    fun theSinkReceivesAReplicatorsAuthErrorWithoutThePassword() = withPhoneAndHub(dir) { phone, hub ->
        OutpostLog.level = LogLevel.VERBOSE
        OutpostLog.sink = { level, domain, message -> records += Record(level, domain, message) }
        phone.defaultCollection().saveJson("child-1", "{}")
        val listener = Listener.start(
            hub,
            ListenerConfig(ListenerAuthenticator.users("worker" to "correct horse"), networkInterface = "127.0.0.1"),
        )
        fun wrongPassword() = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "wrong horse")
            acceptOnlySelfSignedCerts()
        }
        assertFailsWith<OutpostException.Auth> { wrongPassword().run() }

        val all = records.toList()
        assertTrue(
            all.any { it.level == LogLevel.WARNING && it.domain.startsWith("replication") && "replication stopped" in it.message },
            "no warning that the replicator stopped in $all",
        )
        assertTrue(all.any { it.domain.startsWith("net") && "refused a login" in it.message }, "no refused login in $all")
        assertTrue(all.none { "horse" in it.message }, "a password was logged: $all")

        // At ERROR nothing of this reaches the sink (the failure is a warning).
        OutpostLog.level = LogLevel.ERROR
        records.clear()
        assertFailsWith<OutpostException.Auth> { wrongPassword().run() }
        assertTrue(records.isEmpty(), "logged below the level: ${records.toList()}")
        listener.stop()
    }
}
