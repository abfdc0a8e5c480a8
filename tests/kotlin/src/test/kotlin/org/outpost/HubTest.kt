// Two camp hubs in one JVM: hub A serves its database to its stored system
// users; hub B's replication manager runs A as a configured server.
package org.outpost

import kotlinx.coroutines.flow.first
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class HubTest {
    @TempDir
    lateinit var dir: Path

    /** Hub A: `camp-b` as a stored system user, served on 127.0.0.1. */
    private suspend fun startHubA(a: Database): Pair<SystemUsers, Listener> {
        val users = SystemUsers.open(a)
        users.add("camp-b", "camp b password", SystemUserRole.SYNC)
        val config = ListenerConfig(ListenerAuthenticator.systemUsers(users), networkInterface = "127.0.0.1")
        return users to Listener.start(a, config)
    }

    /** The first statuses of [manager] for which [condition] holds. */
    private suspend fun statusesWhen(manager: ReplicationManager, condition: (List<ServerStatus>) -> Boolean) =
        manager.statusFlow().first(condition)

    @Test
    fun aConfiguredServerReplicatesIsRestartedOnOpenAndStopsWhenRemoved(): Unit = timed {
        val a = openDb(dir, "camp-a.db")
        val b = openDb(dir, "camp-b.db")
        val (users, listener) = startHubA(a)
        assertEquals(listOf("camp-b"), users.list().map { it.name })
        a.defaultCollection().saveJson("child-1", """{"name":"Amina"}""")

        val keys = dir.resolve("keys").toString()
        val manager = ReplicationManager.open(b, keys)
        val server = ConfiguredServer("camp-a", listener.urls.first(), "camp-b", ServerTrust.PinnedFingerprint(listener.fingerprint!!))
        manager.add(server, "camp b password")
        assertEquals(listOf(server), manager.servers())
        val idle = statusesWhen(manager) { it.singleOrNull()?.state == ServerState.IDLE }.single()
        assertNull(idle.error)
        assertNotNull(idle.lastSuccessEpochSeconds)
        assertEquals("""{"name":"Amina"}""", bodyOf(b, "child-1"))
        // Both ways: a document written on B reaches A.
        b.defaultCollection().saveJson("child-b", """{"name":"Baraka"}""")
        eventually("child-b reaches hub A") { bodyOf(a, "child-b") != null }

        // Persisted and restarted on open: a new manager over the same database runs it again.
        manager.stop()
        assertEquals(listOf(ServerState.STOPPED), manager.statuses().map { it.state })
        a.defaultCollection().saveJson("child-2", """{"name":"Juma"}""")
        val reopened = ReplicationManager.open(b, keys)
        statusesWhen(reopened) { it.singleOrNull()?.state == ServerState.IDLE }
        assertEquals("""{"name":"Juma"}""", bodyOf(b, "child-2"))

        // Removed: its status is gone and its connection to A closes.
        assertTrue(reopened.remove("camp-a"))
        assertEquals(emptyList(), reopened.servers())
        statusesWhen(reopened) { it.isEmpty() }
        eventually("hub B's connection to hub A closes") { listener.connectionStatus.connections == 0 }
        reopened.stop()
        listener.stop()
        a.close()
        b.close()
    }

    @Test
    fun aWrongPasswordIsAnErrorUntilTheServerIsAddedAgain(): Unit = timed {
        val a = openDb(dir, "camp-a.db")
        val b = openDb(dir, "camp-b.db")
        val (_, listener) = startHubA(a)
        a.defaultCollection().saveJson("child-1", "{}")
        val manager = ReplicationManager.open(b, dir.resolve("keys").toString())
        val server = ConfiguredServer("camp-a", listener.urls.first(), "camp-b", ServerTrust.SelfSignedOnly, Direction.PULL)
        manager.add(server, "wrong password")
        val failed = statusesWhen(manager) { it.singleOrNull()?.state == ServerState.ERROR }.single()
        assertNotNull(failed.error)
        assertTrue(failed.nextRetryEpochSeconds!! > failed.stateEpochSeconds, "retried later, not in a tight loop")
        manager.add(server, "camp b password")
        statusesWhen(manager) { it.singleOrNull()?.state == ServerState.IDLE }
        assertEquals("{}", bodyOf(b, "child-1"))
        assertFailsWith<OutpostException.InvalidInput> { manager.add(server.copy(url = "ftp://x"), "pw") }
        manager.stop()
        listener.stop()
        a.close()
        b.close()
    }

    @Test
    fun aListenerCheckingSystemUsersRefusesARemovedUserAndLetsAReadUserOnlyPull(): Unit = timed {
        val a = openDb(dir, "camp-a.db")
        val b = openDb(dir, "camp-b.db")
        val (users, listener) = startHubA(a)
        users.add("viewer", "viewer password", SystemUserRole.READ)
        assertEquals(listOf(SystemUserRole.SYNC, SystemUserRole.READ), users.list().map { it.role })
        b.defaultCollection().saveJson("from-b", "{}")
        val push = b.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("viewer", "viewer password")
            acceptOnlySelfSignedCerts()
            direction = Direction.PUSH
            maxAttempts = 1
        }
        assertFailsWith<OutpostException.ReadOnly> { push.run() }
        assertTrue(users.remove("camp-b"))
        val removed = b.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("camp-b", "camp b password")
            acceptOnlySelfSignedCerts()
            maxAttempts = 1
        }
        assertFailsWith<OutpostException.Auth> { removed.run() }
        listener.stop()
        a.close()
        b.close()
    }
}
