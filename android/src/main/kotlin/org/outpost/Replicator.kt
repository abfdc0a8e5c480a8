// The replicator (active peer): targets, the configuration builder, filters and
// conflict resolvers that see decoded documents, status and document events.
package org.outpost

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.serialization.serializer
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds
import org.outpost.ffi.ClientAuthentication as FfiClientAuthentication
import org.outpost.ffi.CollectionReplication as FfiCollectionReplication
import org.outpost.ffi.RemoteTargetConfig as FfiRemoteTargetConfig
import org.outpost.ffi.Replicator as FfiReplicator
import org.outpost.ffi.ReplicatorConfig as FfiReplicatorConfig
import org.outpost.ffi.ReplicatorTarget as FfiTarget
import org.outpost.ffi.Resolution as FfiResolution
import org.outpost.ffi.ServerTrust as FfiServerTrust

/** Which way documents flow. */
typealias Direction = org.outpost.ffi.Direction

/** What a replicator is doing. */
typealias ActivityLevel = org.outpost.ffi.ActivityLevel

/** Where a replicator replicates to (Couchbase Lite's `Endpoint`). */
sealed class Endpoint

/** Another local database: for tests, backups, or two stores in one app. */
class DatabaseEndpoint(val database: Database) : Endpoint()

/**
 * A listener on another device, `wss://host:port/db`, or a CouchDB-protocol server's database
 * (CouchDB, PouchDB Server), `https://host/db`; credentials and trust are set in the replicator's block.
 */
class UrlEndpoint(val url: String) : Endpoint() {
    override fun toString(): String = url
}

/** A revision offered to a push or pull filter, its body decoded. */
class FilteredRevision internal constructor(val id: String, val rev: String, val deleted: Boolean, val json: String) {
    /** The body as a map (see [Document.toMap]). */
    val body: Map<String, Any?> by lazy { jsonToMap(json) }

    /** The body decoded as [T]. */
    inline fun <reified T> decode(): T = outpostJson.decodeFromString(serializer<T>(), json)
}

/** One of the revisions in conflict, its body decoded. */
class ConflictingRevision internal constructor(val rev: String, val deleted: Boolean, val json: String) {
    /** The body as a map (see [Document.toMap]). */
    val body: Map<String, Any?> by lazy { jsonToMap(json) }

    /** The body decoded as [T]. */
    inline fun <reified T> decode(): T = outpostJson.decodeFromString(serializer<T>(), json)
}

/** A document in conflict after a pull; [revisions] has the default winner first. */
class Conflict internal constructor(val collection: String, val id: String, val revisions: List<ConflictingRevision>)

/** What a conflict resolver decided. */
sealed class Resolution {
    /** Keep this revision (one of the conflict's) and close the others. */
    data class Keep(val rev: String) : Resolution()
    /** Save this JSON object as the merged document; see [mergeOf]. */
    data class Merge(val json: String) : Resolution()
    /** Delete the document. */
    data object Delete : Resolution()
}

/** A resolution that saves [value] as the merged document. */
inline fun <reified T> mergeOf(value: T): Resolution = Resolution.Merge(outpostJson.encodeToString(serializer<T>(), value))

/** A resolution that saves [map] as the merged document. */
fun mergeOf(map: Map<String, Any?>): Resolution = Resolution.Merge(mapToJson(map))

/** A snapshot of a replicator's state. */
data class ReplicatorStatus(
    val activity: ActivityLevel,
    /** Changes processed so far. */
    val completed: Long,
    /** Changes known to need processing. */
    val total: Long,
    /** The last error (kept when it stopped the replicator); match `error?.exception` by type. */
    val error: Failure?,
    /** Bytes sent to the remote on the wire (TLS and framing included) since the replicator was made. */
    val bytesSent: Long = 0,
    /** Bytes received from the remote on the wire since the replicator was made. */
    val bytesReceived: Long = 0,
)

internal fun org.outpost.ffi.ReplicatorStatus.toPublic() =
    ReplicatorStatus(
        activity,
        completed.toLong(),
        total.toLong(),
        error?.toPublic(),
        bytesSent.toLong(),
        bytesReceived.toLong(),
    )

/** One document replicated (or refused) in one direction. */
data class DocumentReplication(
    val collection: String,
    val id: String,
    val rev: String,
    val direction: Direction,
    val deleted: Boolean,
    /** Whether the peer removed access to the document. */
    val accessRemoved: Boolean,
    /** Why it was not stored, if it was not. */
    val error: Failure?,
)

private fun org.outpost.ffi.DocumentReplication.toPublic() =
    DocumentReplication(collection, id, rev, direction, deleted, accessRemoved, error?.toPublic())

/** What to replicate of one collection; see [ReplicatorConfigBuilder.collection]. */
class CollectionReplicationBuilder internal constructor(private val name: String) {
    /** Only these documents, if set. */
    var documentIds: List<String>? = null
    private var pushFilter: ((FilteredRevision) -> Boolean)? = null
    private var pullFilter: ((FilteredRevision) -> Boolean)? = null
    private var resolver: ((Conflict) -> Resolution)? = null

    /** Only revisions for which [block] is true are pushed; a throwing filter keeps the revision back. */
    fun pushFilter(block: (FilteredRevision) -> Boolean) { pushFilter = block }

    /** Only pulled revisions for which [block] is true are stored. */
    fun pullFilter(block: (FilteredRevision) -> Boolean) { pullFilter = block }

    /**
     * Resolves conflicts after a pull. It must be deterministic (the same on every device); if it
     * throws, the default resolution is used.
     */
    fun conflictResolver(block: (Conflict) -> Resolution) { resolver = block }

    internal fun build() = FfiCollectionReplication(name, documentIds, pushFilter?.let(::filter), pullFilter?.let(::filter), resolver?.let(::resolver))
}

private fun filter(block: (FilteredRevision) -> Boolean) = object : org.outpost.ffi.ReplicationFilter {
    override fun include(revision: org.outpost.ffi.FilteredRevision): Boolean =
        block(FilteredRevision(revision.id, revision.rev, revision.deleted, revision.body))
}

private fun resolver(block: (Conflict) -> Resolution) = object : org.outpost.ffi.ConflictResolver {
    override fun resolve(conflict: org.outpost.ffi.Conflict): FfiResolution {
        val revisions = conflict.revisions.map { ConflictingRevision(it.rev, it.deleted, it.body) }
        return when (val r = block(Conflict(conflict.collection, conflict.id, revisions))) {
            is Resolution.Keep -> FfiResolution.Keep(r.rev)
            is Resolution.Merge -> FfiResolution.Merge(r.json)
            Resolution.Delete -> FfiResolution.Delete
        }
    }
}

/** How a replicator runs, and for a [UrlEndpoint] the credentials and trust; see [Database.replicator]. */
class ReplicatorConfigBuilder internal constructor(private val endpoint: Endpoint) {
    /** Push, pull or both (the default). */
    var direction: Direction = Direction.PUSH_AND_PULL
    /** Keep running and replicate changes as they happen. */
    var continuous: Boolean = false
    /** Attempts before a transient error stops it; null: 10 one-shot, unlimited continuous. */
    var maxAttempts: Int? = null
    /** Longest wait between attempts (backoff doubles up to it). */
    var maxAttemptWait: Duration = 5.minutes
    /** URL endpoints: interval of heartbeats; a link silent for three intervals is taken as lost. */
    var heartbeat: Duration = 30.seconds
    /**
     * Delta sync: an edited document moves as the changes from the revision the other side
     * holds, when the listener allows it too ([ListenerConfig.deltaSync]). Off by default.
     */
    var deltaSync: Boolean = false
    private val collections = mutableListOf<FfiCollectionReplication>()
    private var authentication: (() -> FfiClientAuthentication)? = null
    private var serverTrust: FfiServerTrust = FfiServerTrust.SystemRoots

    /** Replicates the collection [name] (the default collection if none is named). */
    fun collection(name: String, block: CollectionReplicationBuilder.() -> Unit = {}) {
        collections += CollectionReplicationBuilder(name).apply(block).build()
    }

    /** Presents HTTP basic credentials (sent inside TLS). */
    fun basicAuth(username: String, password: String) {
        authentication = { FfiClientAuthentication.basic(username, password) }
    }

    /** Presents a TLS client certificate. */
    fun clientCertificate(identity: TlsIdentity) {
        authentication = { FfiClientAuthentication.certificate(identity.ffi) }
    }

    /**
     * Accepts any self-signed certificate (a listener's generated one) and nothing CA-issued.
     * Stops eavesdroppers, not an active attacker: prefer [pinFingerprint] when you can.
     */
    fun acceptOnlySelfSignedCerts() { serverTrust = FfiServerTrust.SelfSignedOnly }

    /** Accepts exactly the certificate with this fingerprint (`sha256:HEX`, from `Listener.fingerprint`). */
    fun pinFingerprint(fingerprint: String) { serverTrust = FfiServerTrust.PinnedFingerprint(fingerprint) }

    /** Accepts exactly this certificate (DER). */
    fun pinCertificate(certificate: ByteArray) { serverTrust = FfiServerTrust.PinnedCertificate(certificate) }

    /** Accepts certificates issued for the URL's host by one of these CAs (DER, or PEM bytes). */
    fun trustCaCertificates(vararg certificates: ByteArray) { serverTrust = FfiServerTrust.CaCertificates(certificates.toList()) }

    /** Accepts any certificate at all. Development only: an active attacker can read everything. */
    fun acceptAnyCertificateInsecurely() { serverTrust = FfiServerTrust.InsecureAcceptAny }

    internal fun build(database: Database): FfiReplicator {
        val config = FfiReplicatorConfig(
            direction, continuous, collections.toList(),
            maxAttempts?.also { require(it >= 0) { "maxAttempts must not be negative" } }?.toUInt(),
            maxAttemptWait.inWholeMilliseconds.coerceAtLeast(0).toULong(),
            deltaSync,
        )
        val target = when (endpoint) {
            is DatabaseEndpoint -> {
                require(authentication == null && serverTrust == FfiServerTrust.SystemRoots) {
                    "credentials and server trust apply to a UrlEndpoint only"
                }
                FfiTarget.localDatabase(endpoint.database.ffi)
            }
            is UrlEndpoint -> FfiTarget.url(FfiRemoteTargetConfig(
                endpoint.url, authentication?.invoke(), serverTrust, heartbeat.inWholeMilliseconds.coerceAtLeast(0).toULong(),
            ))
        }
        return target.use { FfiReplicator(database.ffi, it, config) }
    }
}

/**
 * A replicator between this database and [endpoint], configured by [block].
 *
 * ```
 * val replicator = db.replicator(UrlEndpoint("wss://192.168.1.20:4984/camp")) {
 *     basicAuth("worker", password)
 *     pinFingerprint(hubFingerprint)
 *     continuous = true
 *     collection("children") { conflictResolver { mergeOf(it.revisions.first().decode<Child>()) } }
 * }
 * replicator.start()
 * ```
 *
 * @throws OutpostException.InvalidInput for an inconsistent configuration or a bad URL.
 */
fun Database.replicator(endpoint: Endpoint, block: ReplicatorConfigBuilder.() -> Unit = {}): Replicator =
    rethrowing { Replicator(ReplicatorConfigBuilder(endpoint).apply(block).build(this)) }

/**
 * Replicates a database with an [Endpoint]: push, pull or both, one-shot or continuous,
 * resuming from checkpoints. Once started it runs until [stop] (or a one-shot run's end, or a
 * permanent error), whether or not the app keeps a reference to it.
 */
class Replicator internal constructor(private val ffi: FfiReplicator) {
    /** Starts replicating in the background; follow it with [status] or [statusFlow]. Does nothing if running. */
    fun start() = rethrowing { ffi.start() }

    /** Asks it to stop; the status goes to `STOPPED` when it has. */
    fun stop() = ffi.stop()

    /**
     * Runs to completion (one-shot) or until stopped (continuous); throws the error that stopped it.
     * Cancelling the calling coroutine stops the replicator: its lifetime is the caller's scope.
     */
    suspend fun run() = rethrowing {
        try {
            ffi.run()
        } catch (e: CancellationException) {
            ffi.stop()
            throw e
        }
    }

    /** Asks it to stop and waits until it has; returns the final status. */
    suspend fun stopAndWait(): ReplicatorStatus {
        stop()
        return statusFlow().first { it.activity == ActivityLevel.STOPPED }
    }

    /** The current status. */
    val status: ReplicatorStatus get() = ffi.status().toPublic()

    /** Calls [block] on [dispatcher] on every status change, until removed. */
    fun addChangeListener(dispatcher: CoroutineDispatcher = Outpost.callbackDispatcher, block: (ReplicatorStatus) -> Unit): ListenerToken =
        listen(dispatcher, block) { send -> ffi.addStatusListener(statusListener(send)) }

    /** Calls [block] on [dispatcher] with each group of documents replicated or refused, until removed. */
    fun addDocumentListener(dispatcher: CoroutineDispatcher = Outpost.callbackDispatcher, block: (List<DocumentReplication>) -> Unit): ListenerToken =
        listen(dispatcher, block) { send -> ffi.addDocumentListener(documentListener(send)) }

    /** The current status, then every change of it (consecutive repeats dropped). */
    fun statusFlow(): Flow<ReplicatorStatus> = callbackFlow {
        // The snapshot is read and sent under the lock of the listener's sends, so a change
        // racing with the snapshot is never followed by the older snapshot.
        val lock = Any()
        val handle = ffi.addStatusListener(statusListener { synchronized(lock) { trySend(it) } })
        synchronized(lock) { trySend(status) }
        awaitClose { handle.cancel(); handle.close() }
    }.buffer(Channel.UNLIMITED).distinctUntilChanged()

    /** Each group of documents replicated (or refused) while collected. */
    fun documentFlow(): Flow<List<DocumentReplication>> = flowOf { send -> ffi.addDocumentListener(documentListener(send)) }

    /** Ids of local documents of [collection] waiting to be pushed. */
    suspend fun pendingDocumentIds(collection: String = "_default"): Set<String> =
        rethrowing { ffi.pendingDocumentIds(collection).toSet() }

    /** Whether the local document [id] of [collection] is waiting to be pushed. */
    suspend fun isDocumentPending(id: String, collection: String = "_default"): Boolean =
        rethrowing { ffi.isDocumentPending(collection, id) }
}

private fun statusListener(send: (ReplicatorStatus) -> Unit) = object : org.outpost.ffi.ReplicatorStatusListener {
    override fun onStatus(status: org.outpost.ffi.ReplicatorStatus) = send(status.toPublic())
}

private fun documentListener(send: (List<DocumentReplication>) -> Unit) = object : org.outpost.ffi.DocumentReplicationListener {
    override fun onDocuments(documents: List<org.outpost.ffi.DocumentReplication>) = send(documents.map { it.toPublic() })
}
