// The hand-written Kotlin layer over the generated bindings (outpost_ffi.kt,
// same package): suspend functions that keep SQLite work off the caller's
// thread, Flows for collection changes and replicator status, and lambdas
// and builders for configuration, local and network replication alike. Pure Kotlin + kotlinx-coroutines: the same
// file is compiled into the Android library and the desktop JVM tests.
package org.outpost

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withContext

/** The dispatcher the suspend functions of this file run blocking SQLite calls on. */
var outpostDispatcher: CoroutineDispatcher = Dispatchers.IO

/**
 * Opens (creating if needed) the database file at [path].
 *
 * ```
 * val db = openDatabase(File(context.filesDir, "camp.db").path)
 * ```
 */
suspend fun openDatabase(path: String, config: DatabaseConfig = DatabaseConfig()): Database =
    withContext(outpostDispatcher) { Database.open(path, config) }

/** The document [id] (a deleted one too, with `deleted` set), or null if there is none. */
suspend fun Collection.getDocument(id: String): Document? =
    withContext(outpostDispatcher) { get(id) }

/**
 * Saves [body] (a JSON object) over [rev] (null to create) and returns the new revision.
 * Throws [OutpostException.Conflict] if [rev] is not the current revision.
 */
suspend fun Collection.saveDocument(id: String, body: String, rev: String? = null): String =
    withContext(outpostDispatcher) { save(id, rev, body) }

/** Deletes the document [id] over [rev] and returns the tombstone's revision. */
suspend fun Collection.deleteDocument(id: String, rev: String): String =
    withContext(outpostDispatcher) { delete(id, rev) }

/** Applies [operations] in one transaction (all or nothing); see [WriteOperation]. */
suspend fun Collection.write(operations: List<WriteOperation>): List<String?> =
    withContext(outpostDispatcher) { batch(operations) }

/** Calls [block] after each committed write to this collection until the handle is cancelled. */
fun Collection.addChangeListener(block: (ChangeEvent) -> Unit): ListenerHandle =
    addChangeListener(changeListener(block))

/** Every committed write to this collection, from the moment of collection. */
fun Collection.changeFlow(): Flow<ChangeEvent> = callbackFlow {
    val handle = addChangeListener(changeListener { trySend(it) })
    awaitClose { handle.cancel(); handle.close() }
}.buffer(Channel.UNLIMITED)

/** Every committed write to the document [id], from the moment of collection. */
fun Collection.documentChangeFlow(id: String): Flow<ChangeEvent> = callbackFlow {
    val handle = addDocumentListener(id, changeListener { trySend(it) })
    awaitClose { handle.cancel(); handle.close() }
}.buffer(Channel.UNLIMITED)

/** The current status, then every change of it (consecutive repeats dropped). */
fun Replicator.statusFlow(): Flow<ReplicatorStatus> = callbackFlow {
    // The snapshot is read and sent under the same lock as the listener's
    // sends, so a change racing with the snapshot can never be followed by
    // the older snapshot.
    val lock = Any()
    val handle = addStatusListener(object : ReplicatorStatusListener {
        override fun onStatus(status: ReplicatorStatus) {
            synchronized(lock) { trySend(status) }
        }
    })
    synchronized(lock) { trySend(status()) }
    awaitClose { handle.cancel(); handle.close() }
}.buffer(Channel.UNLIMITED).distinctUntilChanged()

/** Each group of documents replicated (or refused), from the moment of collection. */
fun Replicator.documentFlow(): Flow<List<DocumentReplication>> = callbackFlow {
    val handle = addDocumentListener(object : DocumentReplicationListener {
        override fun onDocuments(documents: List<DocumentReplication>) {
            trySend(documents)
        }
    })
    awaitClose { handle.cancel(); handle.close() }
}.buffer(Channel.UNLIMITED)

/**
 * This failure as the exception it reports, to match by type:
 *
 * ```
 * when (replicator.status().error?.exception) {
 *     is OutpostException.Auth -> askForThePasswordAgain()
 *     is OutpostException.Tls -> warnAboutTheHubsCertificate()
 *     else -> {}
 * }
 * ```
 */
val Failure.exception: OutpostException
    get() = when (kind) {
        ErrorKind.INVALID_INPUT -> OutpostException.InvalidInput(message)
        ErrorKind.NOT_FOUND -> OutpostException.NotFound(message)
        ErrorKind.CONFLICT -> OutpostException.Conflict(message)
        ErrorKind.COLLECTION_NOT_FOUND -> OutpostException.CollectionNotFound(message)
        ErrorKind.CLOSED -> OutpostException.Closed(message)
        ErrorKind.AUTH -> OutpostException.Auth(message)
        ErrorKind.TLS -> OutpostException.Tls(message)
        ErrorKind.NETWORK -> OutpostException.Network(message)
        ErrorKind.PEER -> OutpostException.Peer(message)
        ErrorKind.READ_ONLY -> OutpostException.ReadOnly(message)
        ErrorKind.NOT_SERVED -> OutpostException.NotServed(message)
        ErrorKind.PROTOCOL_MISMATCH -> OutpostException.ProtocolMismatch(message)
        ErrorKind.KEY_STORE -> OutpostException.KeyStore(message)
        ErrorKind.STOPPED -> OutpostException.Stopped(message)
        ErrorKind.STORAGE -> OutpostException.Storage(message)
        ErrorKind.CORRUPT -> OutpostException.Corrupt(message)
        ErrorKind.INTERNAL -> OutpostException.Internal(message)
    }

/** Asks the replicator to stop and waits until it has; returns the final status. */
suspend fun Replicator.stopAndWait(): ReplicatorStatus {
    stop()
    return statusFlow().first { it.activity == ActivityLevel.STOPPED }
}

/** A [ChangeListener] from a lambda. */
fun changeListener(block: (ChangeEvent) -> Unit): ChangeListener = object : ChangeListener {
    override fun onChange(change: ChangeEvent) = block(change)
}

/** A [ConflictResolver] from a lambda; it must be deterministic. */
fun conflictResolver(block: (Conflict) -> Resolution): ConflictResolver = object : ConflictResolver {
    override fun resolve(conflict: Conflict): Resolution = block(conflict)
}

/** A [ReplicationFilter] from a lambda: true replicates the revision. */
fun replicationFilter(block: (FilteredRevision) -> Boolean): ReplicationFilter = object : ReplicationFilter {
    override fun include(revision: FilteredRevision): Boolean = block(revision)
}

/** Builds a [CollectionReplication]; see [replicator]. */
class CollectionReplicationBuilder internal constructor(private val name: String) {
    /** Only these documents, if set. */
    var documentIds: List<String>? = null
    private var pushFilter: ReplicationFilter? = null
    private var pullFilter: ReplicationFilter? = null
    private var resolver: ConflictResolver? = null

    /** Only revisions for which [block] is true are pushed. */
    fun pushFilter(block: (FilteredRevision) -> Boolean) { pushFilter = replicationFilter(block) }

    /** Only pulled revisions for which [block] is true are stored. */
    fun pullFilter(block: (FilteredRevision) -> Boolean) { pullFilter = replicationFilter(block) }

    /** Resolves conflicts after a pull (deterministically). */
    fun conflictResolver(block: (Conflict) -> Resolution) { resolver = org.outpost.conflictResolver(block) }

    internal fun build() = CollectionReplication(name, documentIds, pushFilter, pullFilter, resolver)
}

/** Builds a [ReplicatorConfig]; see [replicator]. */
open class ReplicatorConfigBuilder internal constructor() {
    /** Push, pull or both (the default). */
    var direction: Direction = Direction.PUSH_AND_PULL
    /** Keep running and replicate changes as they happen. */
    var continuous: Boolean = false
    /** Attempts before a transient error stops it; null: 10 one-shot, unlimited continuous. */
    var maxAttempts: Int? = null
    /** Longest wait between attempts, in milliseconds. */
    var maxAttemptWaitMs: Long = 300_000
    private val collections = mutableListOf<CollectionReplication>()

    /** Replicates the collection [name] (the default collection if none is named). */
    fun collection(name: String, block: CollectionReplicationBuilder.() -> Unit = {}) {
        collections += CollectionReplicationBuilder(name).apply(block).build()
    }

    internal fun build() = ReplicatorConfig(
        direction, continuous, collections.toList(), maxAttempts?.toUInt(), maxAttemptWaitMs.toULong(),
    )
}

/**
 * A replicator between this database and [target], configured by [block].
 *
 * ```
 * val replicator = phone.replicator(ReplicatorTarget.localDatabase(backup)) {
 *     continuous = true
 *     collection("children") { conflictResolver { Resolution.Keep(it.revisions.first().rev) } }
 * }
 * replicator.start()
 * replicator.statusFlow().collect { println(it.activity) }
 * ```
 */
fun Database.replicator(target: ReplicatorTarget, block: ReplicatorConfigBuilder.() -> Unit = {}): Replicator =
    Replicator(this, target, ReplicatorConfigBuilder().apply(block).build())

// ---- Network sync: a listener serves a database; a replicator syncs with its URL ----

/**
 * A [ListenerAuthenticator] checking basic credentials with [block] (e.g. against the app's
 * own accounts), called on a background thread. Throwing refuses the connection.
 *
 * ```
 * val listener = Listener.start(db, ListenerConfig(passwordAuthenticator { user, password ->
 *     user == "hub" && password == secret
 * }))
 * showQrCode(listener.urls().first(), listener.fingerprint())
 * ```
 */
fun passwordAuthenticator(block: (username: String, password: String) -> Boolean): ListenerAuthenticator =
    ListenerAuthenticator.password(object : PasswordAuthenticator {
        override fun authenticate(username: String, password: String): Boolean = block(username, password)
    })

/**
 * A [ListenerAuthenticator] accepting these users (name to password). The passwords are hashed
 * (salted Argon2id, deliberately slow) off the caller's thread and not kept.
 *
 * ```
 * val listener = Listener.start(hub, ListenerConfig(usersAuthenticator("worker" to secret)))
 * ```
 */
suspend fun usersAuthenticator(vararg users: Pair<String, String>): ListenerAuthenticator =
    withContext(outpostDispatcher) { ListenerAuthenticator.users(mapOf(*users)) }

/** A listener's URL (`wss://host:port/db`); credentials and trust are set in [Database.replicator]'s block. */
class UrlTarget internal constructor(val url: String) {
    override fun toString(): String = url
}

/** The listener at [url]; see [Database.replicator]. */
fun ReplicatorTarget.Companion.url(url: String): UrlTarget = UrlTarget(url)

/** Builds a [ReplicatorConfig] and the [RemoteTargetConfig] of a URL target; see [Database.replicator]. */
class UrlReplicatorConfigBuilder internal constructor(private val url: String) : ReplicatorConfigBuilder() {
    /** Credentials presented to the listener; none by default. */
    var authentication: ClientAuthentication? = null
    /** Which listener certificates are trusted; public CAs by default. */
    var serverTrust: ServerTrust = ServerTrust.SystemRoots
    /** Interval of heartbeats; a link silent for three intervals is taken as lost. */
    var heartbeatMs: Long = 30_000

    /** Presents HTTP basic credentials (sent inside TLS). */
    fun basicAuth(username: String, password: String) {
        authentication = ClientAuthentication.basic(username, password)
    }

    /** Presents a TLS client certificate. */
    fun clientCertificate(identity: TlsIdentity) {
        authentication = ClientAuthentication.certificate(identity)
    }

    /**
     * Accepts any self-signed certificate (a listener's generated one) and nothing CA-issued.
     * Stops eavesdroppers, not an active attacker: prefer [pinFingerprint] when you can.
     */
    fun acceptOnlySelfSignedCerts() { serverTrust = ServerTrust.SelfSignedOnly }

    /** Accepts exactly the certificate with this fingerprint (`sha256:HEX`, from `Listener.fingerprint()`). */
    fun pinFingerprint(fingerprint: String) { serverTrust = ServerTrust.PinnedFingerprint(fingerprint) }

    /** Accepts exactly this certificate (DER). */
    fun pinCertificate(certificate: ByteArray) { serverTrust = ServerTrust.PinnedCertificate(certificate) }

    /** Accepts certificates issued for the URL's host by one of these CAs (DER, or PEM bytes). */
    fun trustCaCertificates(vararg certificates: ByteArray) {
        serverTrust = ServerTrust.CaCertificates(certificates.toList())
    }

    /** Accepts any certificate at all. Development only: an active attacker can read everything. */
    fun acceptAnyCertificateInsecurely() { serverTrust = ServerTrust.InsecureAcceptAny }

    internal fun target(): ReplicatorTarget =
        ReplicatorTarget.url(RemoteTargetConfig(url, authentication, serverTrust, heartbeatMs.toULong()))
}

/**
 * A replicator between this database and the listener at [target], configured by [block]:
 * the usual replicator settings plus credentials and server trust.
 *
 * ```
 * val replicator = db.replicator(ReplicatorTarget.url("wss://192.168.1.20:4984/camp")) {
 *     basicAuth("worker", password)
 *     acceptOnlySelfSignedCerts()
 *     continuous = true
 * }
 * replicator.start()
 * ```
 */
fun Database.replicator(target: UrlTarget, block: UrlReplicatorConfigBuilder.() -> Unit = {}): Replicator {
    val builder = UrlReplicatorConfigBuilder(target.url).apply(block)
    return builder.target().use { Replicator(this, it, builder.build()) }
}

// ---- Logging ----

/**
 * Outpost's log (like Couchbase Lite's `LogSinks`): messages at [level] and above go to [sink],
 * called on the thread that logged (often a replication thread), so it must return quickly.
 * Nothing is logged until a sink is set; on Android, `OutpostAndroid.init` sets [level]
 * `WARNING` to Logcat. Passwords are never logged, and credentials in URLs are masked.
 *
 * ```
 * OutpostLog.level = LogLevel.INFO
 * OutpostLog.sink = { level, domain, message -> crashReporter.log("$level $domain: $message") }
 * ```
 */
object OutpostLog {
    /** The least severe level passed to [sink]; `WARNING` by default. */
    @Volatile
    var level: LogLevel = LogLevel.WARNING
        set(value) = synchronized(this) { field = value; install() }

    /** Receives each message (level, domain such as `replication::replicator`, text); null: none. */
    @Volatile
    var sink: ((level: LogLevel, domain: String, message: String) -> Unit)? = null
        set(value) = synchronized(this) { field = value; install() }

    private fun install() {
        val block = sink
        setLogSink(block?.let {
            object : LogSink {
                override fun log(level: LogLevel, domain: String, message: String) = it(level, domain, message)
            }
        }, level)
    }
}
