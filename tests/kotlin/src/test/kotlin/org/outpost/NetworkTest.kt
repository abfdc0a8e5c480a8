// Network sync through the Kotlin API: a Listener and replicators in one JVM,
// over TLS on loopback (real sockets, real certificates), with every refusal
// surfacing as its own exception type.
package org.outpost

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.Collections
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

class NetworkTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun listenerAndReplicatorSyncBothWaysOverTlsWithBasicAuth() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().save("child-1", null, """{"name":"Amina"}""")
        hub.defaultCollection().save("notice-1", null, """{"text":"water at 10"}""")
        val listener = startListener(hub, workerOnly())
        assertTrue(listener.urls().single().startsWith("wss://127.0.0.1:${listener.port()}/"), listener.urls().toString())
        assertTrue(listener.fingerprint()!!.startsWith("sha256:"))

        val replicator = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
        }
        replicator.run()
        assertNull(replicator.status().error)
        assertEquals("""{"name":"Amina"}""", bodyOf(hub, "child-1"))
        assertEquals("""{"text":"water at 10"}""", bodyOf(phone, "notice-1"))
        assertEquals(phone.defaultCollection().get("child-1")!!.rev, hub.defaultCollection().get("child-1")!!.rev)
        assertTrue(listener.connectionStatus().totalAccepted >= 1uL)
        replicator.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun continuousReplicationOverTlsReachesIdleFollowsNewWritesAndStops() = withPhoneAndHub(dir) { phone, hub ->
        val listener = startListener(hub, workerOnly())
        val replicator = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(listener.fingerprint()!!)
            continuous = true
        }
        assertContinuousSyncFollowsWritesAndStops(replicator, phone, hub)
        assertEquals(1uL, listener.connectionStatus().totalAccepted, "one connection served the whole session")
        replicator.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun wrongPasswordThrowsAuthAndNoDocumentCrosses() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().save("child-1", null, """{"name":"Amina"}""")
        hub.defaultCollection().save("notice-1", null, "{}")
        val listener = startListener(hub, workerOnly())
        val replicator = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "wrong horse")
            acceptOnlySelfSignedCerts()
        }
        val error = assertFailsWith<OutpostException.Auth> { replicator.run() }
        assertFalse(error.message!!.contains("wrong horse"), "the password leaked into: ${error.message}")
        assertEquals(ActivityLevel.STOPPED, replicator.status().activity)
        // The status keeps the same error, typed.
        val kept = assertIs<OutpostException.Auth>(replicator.status().error?.exception)
        assertEquals(error.message, kept.message)
        assertEquals(1uL, hub.defaultCollection().count())
        assertEquals(1uL, phone.defaultCollection().count())
        replicator.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun pinnedFingerprintMismatchThrowsTlsAndNothingIsSent() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().save("child-1", null, "{}")
        val listener = startListener(hub, workerOnly())
        val stranger = TlsIdentity.generateSelfSigned(listOf())
        assertNotEquals(listener.fingerprint(), stranger.fingerprint())
        val replicator = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(stranger.fingerprint())
        }
        assertFailsWith<OutpostException.Tls> { replicator.run() }
        assertEquals(ErrorKind.TLS, replicator.status().error?.kind)
        assertEquals(0uL, hub.defaultCollection().count())
        // The default trust (public CAs) refuses the self-signed certificate too.
        val defaultTrust = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
        }
        assertFailsWith<OutpostException.Tls> { defaultTrust.run() }
        assertEquals(0uL, hub.defaultCollection().count())
        replicator.close(); defaultTrust.close(); stranger.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun readOnlyListenerRefusesPushButServesPull() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().save("child-1", null, "{}")
        hub.defaultCollection().save("notice-1", null, """{"text":"hello"}""")
        val listener = startListener(hub, workerOnly(), readOnly = true)
        val pushing = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
        }
        val error = assertFailsWith<OutpostException.ReadOnly> { pushing.run() }
        assertTrue(error.message!!.contains("pull only"), error.message)
        assertNull(hub.defaultCollection().get("child-1"))

        val pulling = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
            direction = Direction.PULL
        }
        pulling.run()
        assertEquals("""{"text":"hello"}""", bodyOf(phone, "notice-1"))
        assertNull(hub.defaultCollection().get("child-1"))
        pushing.close(); pulling.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun kotlinPasswordAuthenticatorIsCalledAndAThrowingOneRefuses() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().save("child-1", null, "{}")
        val calls = Collections.synchronizedList(mutableListOf<Pair<String, String>>())
        val authenticator = passwordAuthenticator { user, password ->
            calls += user to password
            if (user == "crash") throw IllegalStateException("the accounts service is down")
            user == "hub" && password == "s3cret"
        }
        val listener = startListener(hub, authenticator)
        fun replicatorAs(user: String, password: String) = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth(user, password)
            pinFingerprint(listener.fingerprint()!!)
        }

        val crashing = replicatorAs("crash", "s3cret")
        assertFailsWith<OutpostException.Auth> { crashing.run() }
        assertEquals(listOf("crash" to "s3cret"), calls.toList())
        assertEquals(0uL, hub.defaultCollection().count())

        val refused = replicatorAs("hub", "guess")
        assertFailsWith<OutpostException.Auth> { refused.run() }
        assertEquals(0uL, hub.defaultCollection().count())

        val accepted = replicatorAs("hub", "s3cret")
        accepted.run()
        assertEquals(1uL, hub.defaultCollection().count())
        assertEquals(listOf("crash" to "s3cret", "hub" to "guess"), calls.take(2))
        assertTrue("hub" to "s3cret" in calls)
        crashing.close(); refused.close(); accepted.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun tenThousandDocumentsSyncOverTls() = withPhoneAndHub(dir) { phone, hub ->
        val docs = writeChildren(phone, hub, 10_000)
        val listener = startListener(hub, workerOnly(), collections = listOf("children"))
        val replicator = phone.replicator(ReplicatorTarget.url(listener.urls().first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(listener.fingerprint()!!)
            direction = Direction.PUSH
            collection("children")
        }
        replicator.run()
        assertNull(replicator.status().error)
        assertChildrenCopied(docs, hub.collection("children"), 10_000)
        assertTrue(replicator.pendingDocumentIds("children").isEmpty())
        replicator.close()
        listener.stop()
        listener.close()
    }

    @Test
    fun storedIdentitiesAreSavedLoadedAndDeletedAndDamageIsAnError() {
        val keys = dir.resolve("store").toString()
        assertNull(loadStoredIdentity("hub", keys))
        val identity = TlsIdentity.generateSelfSigned(listOf())
        saveStoredIdentity("hub", identity, keys)
        assertEquals(identity.fingerprint(), loadStoredIdentity("hub", keys)!!.fingerprint())
        java.io.File(keys, "hub.identity").writeText("damaged")
        assertFailsWith<OutpostException.KeyStore> { loadStoredIdentity("hub", keys) }
        deleteStoredIdentity("hub", keys)
        assertNull(loadStoredIdentity("hub", keys))
        assertFailsWith<OutpostException.KeyStore> { loadStoredIdentity("../escape", keys) }
        // A desktop JVM has no platform key store.
        assertFailsWith<OutpostException.InvalidInput> { loadStoredIdentity("hub") }
    }

    @Test
    fun storedIdentityKeepsItsFingerprintAndGivenIdentitiesArePresented() = withPhoneAndHub(dir) { phone, hub ->
        val keys = dir.resolve("keys").toString()
        val stored = ListenerConfig(workerOnly(), networkInterface = "127.0.0.1", identityLabel = "hub", keyStoreDirectory = keys)
        val first = Listener.start(hub, stored)
        val fingerprint = first.fingerprint()
        first.stop(); first.close()
        val second = Listener.start(hub, stored)
        assertEquals(fingerprint, second.fingerprint())
        second.stop(); second.close()

        val identity = TlsIdentity.generateSelfSigned(listOf("hub.local"))
        val given = Listener.start(hub, ListenerConfig(workerOnly(), networkInterface = "127.0.0.1", tlsIdentity = identity))
        assertEquals(identity.fingerprint(), given.fingerprint())
        assertEquals(identity.fingerprint(), certificateFingerprint(identity.certificate()))
        phone.defaultCollection().save("child-1", null, "{}")
        phone.replicator(ReplicatorTarget.url(given.urls().first())) {
            basicAuth("worker", "correct horse")
            pinCertificate(identity.certificate())
        }.use { it.run() }
        assertEquals(1uL, hub.defaultCollection().count())
        given.stop(); given.close(); identity.close()
    }

    @Test
    fun badListenerAndTargetConfigurationsAreTypedErrors() = withPhoneAndHub(dir) { phone, hub ->
        // On Android the label alone uses the Keystore; a desktop JVM has none.
        assertFailsWith<OutpostException.InvalidInput> {
            Listener.start(hub, ListenerConfig(workerOnly(), identityLabel = "hub"))
        }
        assertFailsWith<OutpostException.CollectionNotFound> {
            Listener.start(hub, ListenerConfig(workerOnly(), collections = listOf("missing")))
        }
        assertFailsWith<OutpostException.InvalidInput> { ListenerAuthenticator.users(mapOf("" to "pw")) }
        assertFailsWith<OutpostException.InvalidInput> { phone.replicator(ReplicatorTarget.url("http://example.org/db")) }
        assertFailsWith<OutpostException.InvalidInput> {
            phone.replicator(ReplicatorTarget.url("wss://127.0.0.1:1/db")) { trustCaCertificates("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----".toByteArray()) }
        }
        // Nobody listens on the port: a one-shot replicator gives up with Network.
        val unreachable = phone.replicator(ReplicatorTarget.url("wss://127.0.0.1:1/db")) {
            acceptOnlySelfSignedCerts()
            maxAttempts = 1
        }
        assertFailsWith<OutpostException.Network> { unreachable.run() }
        unreachable.close()
    }

    private suspend fun workerOnly(): ListenerAuthenticator = usersAuthenticator("worker" to "correct horse")

    /** Starts a TLS listener on loopback serving [hub]. */
    private suspend fun startListener(
        hub: Database,
        authenticator: ListenerAuthenticator,
        readOnly: Boolean = false,
        collections: List<String> = listOf(),
    ): Listener = Listener.start(
        hub,
        ListenerConfig(authenticator, collections = collections, networkInterface = "127.0.0.1", readOnly = readOnly),
    )
}
