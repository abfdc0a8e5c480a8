// The listener (passive peer) that serves a database to other devices, its
// authenticators, and TLS identities.
package org.outpost

import org.outpost.ffi.Listener as FfiListener
import org.outpost.ffi.ListenerAuthenticator as FfiAuthenticator
import org.outpost.ffi.ListenerConfig as FfiListenerConfig
import org.outpost.ffi.TlsIdentity as FfiIdentity

/** A TLS certificate and its private key, for a listener or a client certificate. */
class TlsIdentity internal constructor(internal val ffi: FfiIdentity) {
    companion object {
        /** A new self-signed identity for these DNS names or IP addresses. */
        suspend fun generateSelfSigned(names: List<String>): TlsIdentity = io { TlsIdentity(FfiIdentity.generateSelfSigned(names)) }

        /** An identity from PEM text: the certificate chain (leaf first) and its private key. */
        fun fromPem(certificates: String, privateKey: String): TlsIdentity = rethrowing { TlsIdentity(FfiIdentity.fromPem(certificates, privateKey)) }

        /** The identity stored under [label] (platform key store, or [keyStoreDirectory]), or null. */
        suspend fun load(label: String, keyStoreDirectory: String? = null): TlsIdentity? =
            io { org.outpost.ffi.loadStoredIdentity(label, keyStoreDirectory)?.let(::TlsIdentity) }

        /** Deletes the identity stored under [label] (nothing if there is none). */
        suspend fun delete(label: String, keyStoreDirectory: String? = null) =
            io { org.outpost.ffi.deleteStoredIdentity(label, keyStoreDirectory) }
    }

    /** Stores this identity under [label] (platform key store, or [keyStoreDirectory]). */
    suspend fun save(label: String, keyStoreDirectory: String? = null) =
        io { org.outpost.ffi.saveStoredIdentity(label, ffi, keyStoreDirectory) }

    /** The certificate's fingerprint, `sha256:HEX`. */
    val fingerprint: String get() = ffi.fingerprint()

    /** The certificate (DER). */
    val certificate: ByteArray get() = ffi.certificate()
}

/** The fingerprint (`sha256:HEX`) of a DER certificate. */
fun certificateFingerprint(certificate: ByteArray): String = org.outpost.ffi.certificateFingerprint(certificate)

/** Who may connect to a [Listener]. */
class ListenerAuthenticator private constructor(internal val ffi: FfiAuthenticator) {
    companion object {
        /**
         * Checks basic credentials with [block] (e.g. against the app's own accounts), called on a
         * background thread. Returning false or throwing refuses the connection.
         */
        fun password(block: (username: String, password: String) -> Boolean) = ListenerAuthenticator(
            FfiAuthenticator.password(object : org.outpost.ffi.PasswordAuthenticator {
                override fun authenticate(username: String, password: String): Boolean = block(username, password)
            }),
        )

        /** Accepts these users (name to password), hashed (salted Argon2id, deliberately slow) and not kept. */
        suspend fun users(vararg users: Pair<String, String>) = io { ListenerAuthenticator(FfiAuthenticator.users(mapOf(*users))) }

        /**
         * Accepts the [SystemUsers] stored in the hub's database, read at each login: a removed
         * user (or a changed password) is refused and disconnected at once; a `READ` user may only pull.
         */
        fun systemUsers(users: SystemUsers) = ListenerAuthenticator(FfiAuthenticator.systemUsers(users.ffi))

        /** Accepts TLS client certificates with these fingerprints (`sha256:HEX`). */
        fun clientCertificates(fingerprints: List<String>) = ListenerAuthenticator(FfiAuthenticator.clientCertificates(fingerprints))

        /** Accepts anyone. */
        fun anonymous() = ListenerAuthenticator(FfiAuthenticator.anonymous())
    }
}

/** How a [Listener] serves its database. */
data class ListenerConfig(
    /** Who may connect. */
    val authenticator: ListenerAuthenticator,
    /** Collections served (they must exist); empty means the default collection. */
    val collections: List<String> = emptyList(),
    /** TCP port; 0 picks a free one (read it from [Listener.port]). */
    val port: Int = 0,
    /** Interface to listen on, by IP address or name (`wlan0`); every IPv4 interface if null. */
    val networkInterface: String? = null,
    /** The TLS identity presented; a new self-signed one at each start if null (and no [identityLabel]). */
    val tlsIdentity: TlsIdentity? = null,
    /** Serve plain `ws://`: credentials and documents then cross the network readable by anyone. */
    val disableTls: Boolean = false,
    /** Refuse pushes: peers may only pull. */
    val readOnly: Boolean = false,
    /** Simultaneous connections allowed; more are told to retry later. */
    val maxConnections: Int = 64,
    /** Keep the identity under this label in a key store, so the fingerprint peers pin stays the same. */
    val identityLabel: String? = null,
    /** A file key store directory for [identityLabel] instead of the platform key store. */
    val keyStoreDirectory: String? = null,
    /** Allow delta sync with replicators that ask for it ([ReplicatorConfigBuilder.deltaSync]); off by default. */
    val deltaSync: Boolean = false,
) {
    internal fun toFfi(): FfiListenerConfig {
        require(port in 0..65535) { "port must be 0..65535" }
        require(maxConnections >= 0) { "maxConnections must not be negative" }
        return FfiListenerConfig(
            authenticator.ffi, collections, port.toUShort(), networkInterface, tlsIdentity?.ffi, disableTls, readOnly,
            maxConnections.toUInt(), identityLabel, keyStoreDirectory, deltaSync,
        )
    }
}

/** Connections to a [Listener]. */
data class ConnectionStatus(
    /** Connections open now (including ones still handshaking). */
    val connections: Int,
    /** Connections not yet authenticated; a high count that does not turn into sessions means strangers hold connections open. */
    val handshaking: Int,
    /** Connections with a request being served now. */
    val active: Int,
    /** Connections accepted since the listener started. */
    val totalAccepted: Long,
    /** Bytes the connections hold now (bounded by the listener). */
    val bufferedBytes: Long,
)

/**
 * Serves a database to other devices (Couchbase Lite's `URLEndpointListener`); they replicate
 * with one of its [urls]. It runs until [stop], whether or not the app keeps a reference to it.
 *
 * ```
 * val listener = Listener.start(db, ListenerConfig(ListenerAuthenticator.password { user, password ->
 *     user == "hub" && password == secret
 * }))
 * showQrCode(listener.urls.first(), listener.fingerprint)
 * ```
 */
class Listener private constructor(private val ffi: FfiListener) {
    companion object {
        /** Starts serving [database]; [OutpostException.Network] if the port or interface cannot be used. */
        suspend fun start(database: Database, config: ListenerConfig): Listener =
            rethrowing { Listener(FfiListener.start(database.ffi, config.toFfi())) }
    }

    /** Stops accepting and closes every connection; returns once the port is released. */
    suspend fun stop() = ffi.stop()

    /** The port listened on (the one picked when the config said 0). */
    val port: Int = ffi.port().toInt()

    /** The URLs peers can replicate with, one per address listened on. */
    val urls: List<String> = ffi.urls()

    /** The TLS certificate's fingerprint (`sha256:HEX`) for peers to pin; null without TLS. */
    val fingerprint: String? = ffi.fingerprint()

    /** Connection counts now. */
    val connectionStatus: ConnectionStatus
        get() = ffi.connectionStatus().let {
            ConnectionStatus(it.connections.toInt(), it.handshaking.toInt(), it.active.toInt(), it.totalAccepted.toLong(), it.bufferedBytes.toLong())
        }
}
