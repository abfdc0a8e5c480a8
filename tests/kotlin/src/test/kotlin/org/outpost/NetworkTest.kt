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
        phone.defaultCollection().saveJson("child-1", """{"name":"Amina"}""")
        hub.defaultCollection().saveJson("notice-1", """{"text":"water at 10"}""")
        val listener = startListener(hub, workerOnly())
        assertTrue(listener.urls.single().startsWith("wss://127.0.0.1:${listener.port}/"), listener.urls.toString())
        assertTrue(listener.fingerprint!!.startsWith("sha256:"))

        val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
        }
        replicator.run()
        assertNull(replicator.status.error)
        assertEquals("""{"name":"Amina"}""", bodyOf(hub, "child-1"))
        assertEquals("""{"text":"water at 10"}""", bodyOf(phone, "notice-1"))
        assertEquals(phone.defaultCollection().getDocument("child-1")!!.rev, hub.defaultCollection().getDocument("child-1")!!.rev)
        assertTrue(listener.connectionStatus.totalAccepted >= 1L)
        val connections = listener.connectionStatus
        assertEquals(0, connections.handshaking)
        assertTrue(connections.bufferedBytes >= 0L)
        listener.stop()
    }

    @Test
    fun deltaSyncSendsAnEditAsItsChangesAndFewerBytes() = withPhoneAndHub(dir) { phone, hub ->
        // Notes that differ per document and do not repeat, so compression
        // alone cannot shrink them.
        fun notes(i: Int) = (1..300L).joinToString("") { "%08x".format((it + 1000L * i) * 2654435761L % 4294967296L) }
        val docs = 20
        fun body(camp: String, i: Int) = "{\"camp\":\"$camp\",\"notes\":\"${notes(i)}\"}"
        val revs = (0 until docs).map { phone.defaultCollection().saveJson("child-$it", body("A", it)) }.toMutableList()
        val listener = Listener.start(hub, ListenerConfig(workerOnly(), networkInterface = "127.0.0.1", deltaSync = true))
        fun replicator(delta: Boolean) = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(listener.fingerprint!!)
            direction = Direction.PUSH
            deltaSync = delta
        }
        val plain = replicator(false)
        val delta = replicator(true)
        plain.run()
        suspend fun editAndPush(r: Replicator, camp: String): Long {
            for (i in 0 until docs) {
                revs[i] = phone.defaultCollection().saveJson("child-$i", body(camp, i), revs[i])
            }
            val before = r.status.bytesSent
            r.run()
            assertNull(r.status.error)
            return r.status.bytesSent - before
        }
        val full = editAndPush(plain, "B")
        val changes = editAndPush(delta, "C")
        assertTrue(changes * 3 < full, "$changes bytes sent with delta sync, $full without")
        assertEquals(body("C", docs - 1), bodyOf(hub, "child-${docs - 1}"))
        listener.stop()
    }

    @Test
    fun aListenerKeptWithoutAReferenceSurvivesGarbageCollection() = withPhoneAndHub(dir) { phone, hub ->
        hub.defaultCollection().saveJson("notice-1", "{}")
        val (weak, url, fingerprint) = startWithoutKeepingIt(hub)
        eventually("the listener object is garbage-collected") { System.gc(); weak.get() == null }
        val canary = java.util.concurrent.CountDownLatch(1)
        com.sun.jna.internal.Cleaner.getCleaner().register(Any(), canary::countDown)
        eventually("the cleaner ran") { System.gc(); canary.count == 0L }
        phone.replicator(UrlEndpoint(url)) {
            basicAuth("worker", "correct horse")
            pinFingerprint(fingerprint)
            maxAttempts = 1 // a stopped listener fails the test at once (Network), not after retries
        }.run()
        assertEquals(1L, phone.defaultCollection().count(), "the listener must still serve after a garbage collection")
    }

    /** Starts a listener serving [hub], keeping only a weak reference to it; returns it, its URL and fingerprint. */
    private suspend fun startWithoutKeepingIt(hub: Database): Triple<java.lang.ref.WeakReference<Listener>, String, String> {
        val listener = startListener(hub, workerOnly())
        return Triple(java.lang.ref.WeakReference(listener), listener.urls.first(), listener.fingerprint!!)
    }

    @Test
    fun continuousReplicationOverTlsReachesIdleFollowsNewWritesAndStops() = withPhoneAndHub(dir) { phone, hub ->
        val listener = startListener(hub, workerOnly())
        val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(listener.fingerprint!!)
            continuous = true
        }
        assertContinuousSyncFollowsWritesAndStops(replicator, phone, hub)
        assertEquals(1L, listener.connectionStatus.totalAccepted, "one connection served the whole session")
        listener.stop()
    }

    @Test
    fun wrongPasswordThrowsAuthAndNoDocumentCrosses() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().saveJson("child-1", """{"name":"Amina"}""")
        hub.defaultCollection().saveJson("notice-1", "{}")
        val listener = startListener(hub, workerOnly())
        val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "wrong horse")
            acceptOnlySelfSignedCerts()
        }
        val error = assertFailsWith<OutpostException.Auth> { replicator.run() }
        assertFalse(error.message!!.contains("wrong horse"), "the password leaked into: ${error.message}")
        assertEquals(ActivityLevel.STOPPED, replicator.status.activity)
        // The status keeps the same error, typed.
        val kept = assertIs<OutpostException.Auth>(replicator.status.error?.exception)
        assertEquals(error.message, kept.message)
        assertEquals(1L, hub.defaultCollection().count())
        assertEquals(1L, phone.defaultCollection().count())
        listener.stop()
    }

    @Test
    fun pinnedFingerprintMismatchThrowsTlsAndNothingIsSent() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().saveJson("child-1", "{}")
        val listener = startListener(hub, workerOnly())
        val stranger = TlsIdentity.generateSelfSigned(listOf())
        assertNotEquals(listener.fingerprint, stranger.fingerprint)
        val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(stranger.fingerprint)
        }
        assertFailsWith<OutpostException.Tls> { replicator.run() }
        assertEquals(ErrorKind.TLS, replicator.status.error?.kind)
        assertEquals(0L, hub.defaultCollection().count())
        // The default trust (public CAs) refuses the self-signed certificate too.
        val defaultTrust = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
        }
        assertFailsWith<OutpostException.Tls> { defaultTrust.run() }
        assertEquals(0L, hub.defaultCollection().count())
        listener.stop()
    }

    @Test
    fun readOnlyListenerRefusesPushButServesPull() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().saveJson("child-1", "{}")
        hub.defaultCollection().saveJson("notice-1", """{"text":"hello"}""")
        val listener = startListener(hub, workerOnly(), readOnly = true)
        val pushing = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
        }
        val error = assertFailsWith<OutpostException.ReadOnly> { pushing.run() }
        assertTrue(error.message!!.contains("pull only"), error.message)
        assertNull(hub.defaultCollection().getDocument("child-1"))

        val pulling = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            acceptOnlySelfSignedCerts()
            direction = Direction.PULL
        }
        pulling.run()
        assertEquals("""{"text":"hello"}""", bodyOf(phone, "notice-1"))
        assertNull(hub.defaultCollection().getDocument("child-1"))
        listener.stop()
    }

    @Test
    fun kotlinPasswordAuthenticatorIsCalledAndAThrowingOneRefuses() = withPhoneAndHub(dir) { phone, hub ->
        phone.defaultCollection().saveJson("child-1", "{}")
        val calls = Collections.synchronizedList(mutableListOf<Pair<String, String>>())
        val authenticator = ListenerAuthenticator.password { user, password ->
            calls += user to password
            if (user == "crash") throw IllegalStateException("the accounts service is down")
            user == "hub" && password == "s3cret"
        }
        val listener = startListener(hub, authenticator)
        fun replicatorAs(user: String, password: String) = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth(user, password)
            pinFingerprint(listener.fingerprint!!)
        }

        val crashing = replicatorAs("crash", "s3cret")
        assertFailsWith<OutpostException.Auth> { crashing.run() }
        assertEquals(listOf("crash" to "s3cret"), calls.toList())
        assertEquals(0L, hub.defaultCollection().count())

        val refused = replicatorAs("hub", "guess")
        assertFailsWith<OutpostException.Auth> { refused.run() }
        assertEquals(0L, hub.defaultCollection().count())

        val accepted = replicatorAs("hub", "s3cret")
        accepted.run()
        assertEquals(1L, hub.defaultCollection().count())
        assertEquals(listOf("crash" to "s3cret", "hub" to "guess"), calls.take(2))
        assertTrue("hub" to "s3cret" in calls)
        listener.stop()
    }

    @Test
    fun tenThousandDocumentsSyncOverTls() = withPhoneAndHub(dir) { phone, hub ->
        val docs = writeChildren(phone, hub, 10_000)
        val listener = startListener(hub, workerOnly(), collections = listOf("children"))
        val replicator = phone.replicator(UrlEndpoint(listener.urls.first())) {
            basicAuth("worker", "correct horse")
            pinFingerprint(listener.fingerprint!!)
            direction = Direction.PUSH
            collection("children")
        }
        replicator.run()
        assertNull(replicator.status.error)
        assertChildrenCopied(docs, hub.collection("children"), 10_000)
        assertTrue(replicator.pendingDocumentIds("children").isEmpty())
        listener.stop()
    }

    @Test
    fun storedIdentitiesAreSavedLoadedAndDeletedAndDamageIsAnError(): Unit = timed {
        val keys = dir.resolve("store").toString()
        assertNull(TlsIdentity.load("hub", keys))
        val identity = TlsIdentity.generateSelfSigned(listOf())
        identity.save("hub", keys)
        assertEquals(identity.fingerprint, TlsIdentity.load("hub", keys)!!.fingerprint)
        java.io.File(keys, "hub.identity").writeText("damaged")
        assertFailsWith<OutpostException.KeyStore> { TlsIdentity.load("hub", keys) }
        TlsIdentity.delete("hub", keys)
        assertNull(TlsIdentity.load("hub", keys))
        assertFailsWith<OutpostException.KeyStore> { TlsIdentity.load("../escape", keys) }
        // A desktop JVM has no platform key store.
        assertFailsWith<OutpostException.InvalidInput> { TlsIdentity.load("hub") }
    }

    @Test
    fun storedIdentityKeepsItsFingerprintAndGivenIdentitiesArePresented() = withPhoneAndHub(dir) { phone, hub ->
        val keys = dir.resolve("keys").toString()
        val stored = ListenerConfig(workerOnly(), networkInterface = "127.0.0.1", identityLabel = "hub", keyStoreDirectory = keys)
        val first = Listener.start(hub, stored)
        val fingerprint = first.fingerprint
        first.stop()
        val second = Listener.start(hub, stored)
        assertEquals(fingerprint, second.fingerprint)
        second.stop()

        val identity = TlsIdentity.generateSelfSigned(listOf("hub.local"))
        val given = Listener.start(hub, ListenerConfig(workerOnly(), networkInterface = "127.0.0.1", tlsIdentity = identity))
        assertEquals(identity.fingerprint, given.fingerprint)
        assertEquals(identity.fingerprint, certificateFingerprint(identity.certificate))
        phone.defaultCollection().saveJson("child-1", "{}")
        phone.replicator(UrlEndpoint(given.urls.first())) {
            basicAuth("worker", "correct horse")
            pinCertificate(identity.certificate)
        }.run()
        assertEquals(1L, hub.defaultCollection().count())
        given.stop()
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
        assertFailsWith<OutpostException.InvalidInput> { ListenerAuthenticator.users("" to "pw") }
        assertFailsWith<OutpostException.InvalidInput> { phone.replicator(UrlEndpoint("ftp://example.org/db")) }
        assertFailsWith<OutpostException.InvalidInput> {
            phone.replicator(UrlEndpoint("wss://127.0.0.1:1/db")) { trustCaCertificates("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----".toByteArray()) }
        }
        // Nobody listens on the port: a one-shot replicator gives up with Network.
        val unreachable = phone.replicator(UrlEndpoint("wss://127.0.0.1:1/db")) {
            acceptOnlySelfSignedCerts()
            maxAttempts = 1
        }
        assertFailsWith<OutpostException.Network> { unreachable.run() }
    }

    private suspend fun workerOnly(): ListenerAuthenticator = ListenerAuthenticator.users("worker" to "correct horse")

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
