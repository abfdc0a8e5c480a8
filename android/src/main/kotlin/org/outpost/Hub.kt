// Camp hub administration: system users stored in the database, and the
// replication manager that runs configured servers continuously with their status.
package org.outpost

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import org.outpost.ffi.ConfiguredServer as FfiServer
import org.outpost.ffi.ReplicationManager as FfiManager
import org.outpost.ffi.ServerTrust as FfiServerTrust
import org.outpost.ffi.SystemUsers as FfiUsers

/** What a system user may do: `SYNC` (push and pull) or `READ` (pull only). */
typealias SystemUserRole = org.outpost.ffi.SystemUserRole

/** Which certificates of a configured server are trusted. */
sealed class ServerTrust {
    /** Certificates issued for the URL's host by a public CA. */
    data object SystemRoots : ServerTrust()
    /** Exactly the certificate with this fingerprint (`sha256:HEX`, from `Listener.fingerprint`). */
    data class PinnedFingerprint(val fingerprint: String) : ServerTrust()
    /** Any self-signed certificate and nothing CA-issued: stops eavesdroppers, not an active attacker. */
    data object SelfSignedOnly : ServerTrust()
    /** Any certificate at all. Development only: an active attacker can read everything. */
    data object InsecureAcceptAny : ServerTrust()

    /** Exactly this certificate (DER). */
    class PinnedCertificate(val certificate: ByteArray) : ServerTrust() {
        override fun equals(other: Any?) = other is PinnedCertificate && other.certificate.contentEquals(certificate)
        override fun hashCode() = certificate.contentHashCode()
    }

    /** Certificates issued for the URL's host by one of these CAs (DER, or PEM bytes). */
    class CaCertificates(val certificates: List<ByteArray>) : ServerTrust() {
        override fun equals(other: Any?) = other is CaCertificates && other.certificates.size == certificates.size &&
            other.certificates.zip(certificates).all { (a, b) -> a.contentEquals(b) }
        override fun hashCode() = certificates.fold(0) { h, c -> 31 * h + c.contentHashCode() }
    }

    internal fun toFfi(): FfiServerTrust = when (this) {
        SystemRoots -> FfiServerTrust.SystemRoots
        is PinnedFingerprint -> FfiServerTrust.PinnedFingerprint(fingerprint)
        SelfSignedOnly -> FfiServerTrust.SelfSignedOnly
        InsecureAcceptAny -> FfiServerTrust.InsecureAcceptAny
        is PinnedCertificate -> FfiServerTrust.PinnedCertificate(certificate)
        is CaCertificates -> FfiServerTrust.CaCertificates(certificates)
    }

    internal companion object {
        fun of(ffi: FfiServerTrust): ServerTrust = when (ffi) {
            is FfiServerTrust.SystemRoots -> SystemRoots
            is FfiServerTrust.PinnedFingerprint -> PinnedFingerprint(ffi.fingerprint)
            is FfiServerTrust.SelfSignedOnly -> SelfSignedOnly
            is FfiServerTrust.InsecureAcceptAny -> InsecureAcceptAny
            is FfiServerTrust.PinnedCertificate -> PinnedCertificate(ffi.certificate)
            is FfiServerTrust.CaCertificates -> CaCertificates(ffi.certificates)
        }
    }
}

/** Where a configured server's replication is: running, idle, offline, error or stopped. */
typealias ServerState = org.outpost.ffi.ServerState

/** A system user as listed (never the password or its hash); times in seconds since the epoch. */
data class SystemUser(
    val name: String,
    val role: SystemUserRole,
    val createdEpochSeconds: Long,
    val lastLoginEpochSeconds: Long?,
)

/**
 * The system users stored in a hub's database (never replicated): the accounts a listener with
 * [ListenerAuthenticator.systemUsers] accepts. Changes count at once for a running listener: a
 * removed user, or one whose password changed, is refused and disconnected within a second.
 *
 * ```
 * val users = SystemUsers.open(db)
 * users.add("camp-2", password, SystemUserRole.SYNC)
 * val listener = Listener.start(db, ListenerConfig(ListenerAuthenticator.systemUsers(users)))
 * ```
 */
class SystemUsers private constructor(internal val ffi: FfiUsers) {
    companion object {
        /** The system users of [database]. */
        suspend fun open(database: Database): SystemUsers = io { SystemUsers(FfiUsers.open(database.ffi)) }
    }

    /** Adds a user (the password is hashed, deliberately slowly, and not kept); [OutpostException.InvalidInput] if it exists. */
    suspend fun add(name: String, password: String, role: SystemUserRole = SystemUserRole.SYNC) = io { ffi.add(name, password, role) }

    /** Replaces a user's password; the user's open connections are closed. */
    suspend fun setPassword(name: String, password: String) = io { ffi.setPassword(name, password) }

    /** Removes a user (its open connections are closed); false if there was none. */
    suspend fun remove(name: String): Boolean = io { ffi.remove(name) }

    /** Every user, by name. */
    suspend fun list(): List<SystemUser> = io {
        ffi.list().map { SystemUser(it.name, it.role, it.createdSecs.toLong(), it.lastLoginSecs?.toLong()) }
    }
}

/**
 * A server a hub replicates with continuously. Its password is given apart to
 * [ReplicationManager.add] and kept sealed.
 */
data class ConfiguredServer(
    /** The administrator's name for it, unique in the hub. */
    val name: String,
    /** `wss://host:port/db` (another hub) or `https://host/db` (a CouchDB). */
    val url: String,
    /** The user name presented. */
    val username: String,
    /** Which certificates of the server are trusted. */
    val serverTrust: ServerTrust = ServerTrust.SystemRoots,
    /** Push, pull or both. */
    val direction: Direction = Direction.PUSH_AND_PULL,
    /** Collections replicated (made locally when missing); empty: every collection the server serves, asked at each connection. */
    val collections: List<String> = emptyList(),
) {
    internal fun toFfi() = FfiServer(name, url, username, serverTrust.toFfi(), direction, collections)
}

/** A configured server's replication status; times in seconds since the epoch. */
data class ServerStatus(
    val name: String,
    val state: ServerState,
    /** When the state last changed. */
    val stateEpochSeconds: Long,
    /** With `OFFLINE` or `ERROR`: when the next attempt is due. */
    val nextRetryEpochSeconds: Long?,
    /** With `ERROR` (and `OFFLINE`): what went wrong. */
    val error: String?,
    val docsRead: Long,
    val docsWritten: Long,
    val docsFailed: Long,
    /** Changes known and not yet processed. */
    val pending: Long,
    /** When the replication last caught up. */
    val lastSuccessEpochSeconds: Long?,
)

private fun org.outpost.ffi.ServerStatus.toPublic() = ServerStatus(
    name, state, stateTimeSecs.toLong(), nextRetrySecs?.toLong(), error, docsRead.toLong(), docsWritten.toLong(),
    docsFailed.toLong(), pending.toLong(), lastSuccessSecs?.toLong(),
)

private fun FfiServer.toPublic() = ConfiguredServer(name, url, username, ServerTrust.of(serverTrust), direction, collections)

/**
 * Runs every configured server of a hub's database continuously (CouchDB's `_replicator`, for
 * camps): servers are kept in the database with their passwords sealed by a key from the key
 * store, run again when the manager is opened after a restart, and added, replaced or removed
 * while it runs. It runs until [stop], whether or not the app keeps a reference to it.
 *
 * ```
 * val manager = ReplicationManager.open(db)
 * manager.add(ConfiguredServer("camp-1", "wss://10.0.0.5:4984/camp", "camp-2",
 *     ServerTrust.PinnedFingerprint(camp1Fingerprint)), password)
 * manager.statusFlow().collect { showStatuses(it) }
 * ```
 */
class ReplicationManager private constructor(private val ffi: FfiManager) {
    companion object {
        /**
         * Opens the configured servers of [database] and starts running them. Passwords are sealed
         * with a key in the platform key store, or in a file key store at [keyStoreDirectory].
         */
        suspend fun open(database: Database, keyStoreDirectory: String? = null): ReplicationManager =
            io { ReplicationManager(FfiManager.open(database.ffi, keyStoreDirectory)) }
    }

    /** Adds [server], or replaces the one with its name (its replication restarts with the new settings). */
    suspend fun add(server: ConfiguredServer, password: String) = io { ffi.add(server.toFfi(), password) }

    /** Removes the server [name] and stops replicating with it; false if there was none. */
    suspend fun remove(name: String): Boolean = io { ffi.remove(name) }

    /** The configured servers, by name. */
    suspend fun servers(): List<ConfiguredServer> = io { ffi.servers().map { it.toPublic() } }

    /** Each configured server's status, by name. */
    suspend fun statuses(): List<ServerStatus> = io { ffi.statuses().map { it.toPublic() } }

    /** Every server's status now, then again after each change (consecutive repeats dropped). */
    fun statusFlow(): Flow<List<ServerStatus>> = callbackFlow {
        val handle = ffi.addStatusListener(serverStatusListener { trySend(Unit) })
        trySend(Unit)
        awaitClose { handle.cancel(); handle.close() }
    }.conflate().map { statuses() }.distinctUntilChanged()

    /** Calls [block] on [dispatcher] with each status written, until removed. */
    fun addStatusListener(dispatcher: CoroutineDispatcher = Outpost.callbackDispatcher, block: (ServerStatus) -> Unit): ListenerToken =
        listen(dispatcher, block) { send -> ffi.addStatusListener(serverStatusListener(send)) }

    /** Runs the configured servers again after [stop]. */
    fun start() = rethrowing { ffi.start() }

    /** Stops every replication (their state becomes `STOPPED`); returns once they have. */
    suspend fun stop() = ffi.stop()
}

private fun serverStatusListener(send: (ServerStatus) -> Unit) = object : org.outpost.ffi.ServerStatusListener {
    override fun onStatus(status: org.outpost.ffi.ServerStatus) = send(status.toPublic())
}
