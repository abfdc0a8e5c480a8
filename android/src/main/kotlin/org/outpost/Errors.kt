// The public error type and its translation from the generated layer
// (org.outpost.ffi), and the dispatchers the SDK runs on.
package org.outpost

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import kotlin.coroutines.EmptyCoroutineContext
import org.outpost.ffi.OutpostException as FfiException

/**
 * Every failure of Outpost: one sealed type, matched by subclass.
 *
 * ```
 * try { children.save("child-1", child, rev) } catch (e: OutpostException.Conflict) { /* read again */ }
 * ```
 */
sealed class OutpostException(message: String) : Exception(message) {
    /** Bad arguments or configuration. */
    class InvalidInput(message: String) : OutpostException(message)
    /** No such document or revision. */
    class NotFound(message: String) : OutpostException(message)
    /** The revision given is not the current one: read again and retry (see `update`). */
    class Conflict(message: String) : OutpostException(message)
    /** No such collection. */
    class CollectionNotFound(message: String) : OutpostException(message)
    /** The database was closed. */
    class Closed(message: String) : OutpostException(message)
    /** The peer refused the credentials. */
    class Auth(message: String) : OutpostException(message)
    /** TLS failed (untrusted or changed certificate). */
    class Tls(message: String) : OutpostException(message)
    /** The network failed (retried by replicators). */
    class Network(message: String) : OutpostException(message)
    /** The peer misbehaved. */
    class Peer(message: String) : OutpostException(message)
    /** The peer is read-only. */
    class ReadOnly(message: String) : OutpostException(message)
    /** The peer does not serve that collection. */
    class NotServed(message: String) : OutpostException(message)
    /** The peer speaks an incompatible protocol version. */
    class ProtocolMismatch(message: String) : OutpostException(message)
    /** The platform key store failed. */
    class KeyStore(message: String) : OutpostException(message)
    /** The database is encrypted and does not open with this key or passphrase (or none was given); nothing changed. */
    class WrongKey(message: String) : OutpostException(message)
    /** Stopped before finishing. */
    class Stopped(message: String) : OutpostException(message)
    /** The file could not be read or written. */
    class Storage(message: String) : OutpostException(message)
    /** The file is damaged or from a newer Outpost. */
    class Corrupt(message: String) : OutpostException(message)
    /** A bug in Outpost. */
    class Internal(message: String) : OutpostException(message)
}

/** The kind of a [Failure]: one per [OutpostException] subclass. */
typealias ErrorKind = org.outpost.ffi.ErrorKind

/** An error reported as a value (a replicator's status, a document that did not replicate). */
data class Failure(val kind: ErrorKind, val message: String) {
    /**
     * This failure as the exception it reports, to match by type:
     *
     * ```
     * when (replicator.status.error?.exception) {
     *     is OutpostException.Auth -> askForThePasswordAgain()
     *     is OutpostException.Tls -> warnAboutTheHubsCertificate()
     *     else -> {}
     * }
     * ```
     */
    val exception: OutpostException
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
            ErrorKind.WRONG_KEY -> OutpostException.WrongKey(message)
            ErrorKind.STOPPED -> OutpostException.Stopped(message)
            ErrorKind.STORAGE -> OutpostException.Storage(message)
            ErrorKind.CORRUPT -> OutpostException.Corrupt(message)
            ErrorKind.INTERNAL -> OutpostException.Internal(message)
        }
}

internal fun org.outpost.ffi.Failure.toPublic() = Failure(kind, message)

internal fun FfiException.toPublic(): OutpostException {
    val m = message ?: ""
    return when (this) {
        is FfiException.InvalidInput -> OutpostException.InvalidInput(m)
        is FfiException.NotFound -> OutpostException.NotFound(m)
        is FfiException.Conflict -> OutpostException.Conflict(m)
        is FfiException.CollectionNotFound -> OutpostException.CollectionNotFound(m)
        is FfiException.Closed -> OutpostException.Closed(m)
        is FfiException.Auth -> OutpostException.Auth(m)
        is FfiException.Tls -> OutpostException.Tls(m)
        is FfiException.Network -> OutpostException.Network(m)
        is FfiException.Peer -> OutpostException.Peer(m)
        is FfiException.ReadOnly -> OutpostException.ReadOnly(m)
        is FfiException.NotServed -> OutpostException.NotServed(m)
        is FfiException.ProtocolMismatch -> OutpostException.ProtocolMismatch(m)
        is FfiException.KeyStore -> OutpostException.KeyStore(m)
        is FfiException.WrongKey -> OutpostException.WrongKey(m)
        is FfiException.Stopped -> OutpostException.Stopped(m)
        is FfiException.Storage -> OutpostException.Storage(m)
        is FfiException.Corrupt -> OutpostException.Corrupt(m)
        is FfiException.Internal -> OutpostException.Internal(m)
    }
}

/** Runs a call of the generated layer, turning its exceptions into [OutpostException]. */
internal inline fun <T> rethrowing(block: () -> T): T =
    try { block() } catch (e: FfiException) { throw e.toPublic() }

/** Runs a blocking call of the generated layer on [Outpost.ioDispatcher]. */
internal suspend fun <T> io(block: () -> T): T = withContext(Outpost.ioDispatcher) { rethrowing(block) }

/** Where Outpost does its work and calls the app back. */
object Outpost {
    /** Runs the SQLite and key-store work of the suspend functions; [Dispatchers.IO] by default. */
    @Volatile
    var ioDispatcher: CoroutineDispatcher = Dispatchers.IO

    /**
     * Runs the listener callbacks (`addChangeListener` and friends) unless one is given a
     * dispatcher of its own: the main thread where there is one (Android, like Couchbase
     * Lite), else [Dispatchers.Default]. Flows run in their collector's context instead.
     */
    @Volatile
    var callbackDispatcher: CoroutineDispatcher = mainOrDefault()

    private fun mainOrDefault(): CoroutineDispatcher = try {
        Dispatchers.Main.also { it.isDispatchNeeded(EmptyCoroutineContext) }
    } catch (e: IllegalStateException) {
        // No main dispatcher on a desktop JVM without a UI toolkit.
        Dispatchers.Default
    }
}
