// The local store: Database, Collection, documents as read, the changes feed,
// batch writes and change listeners. Wraps the generated layer
// (org.outpost.ffi): Long/Int instead of unsigned types, suspend functions
// for SQLite work, callbacks on a chosen dispatcher.
package org.outpost

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch
import org.outpost.ffi.Collection as FfiCollection
import org.outpost.ffi.Database as FfiDatabase
import org.outpost.ffi.DatabaseConfig as FfiDatabaseConfig
import org.outpost.ffi.DatabaseEncryption as FfiEncryption
import org.outpost.ffi.ListenerHandle as FfiHandle
import org.outpost.ffi.WriteOperation as FfiWrite

/** Options for [Database.open]. */
data class DatabaseConfig(
    /** `true`: every commit is on disk when it returns (slower); `false`: a power cut may lose the last commits, never the file. */
    val fullDurability: Boolean = false,
    /** Ancestor revision ids kept per branch (CouchDB's `revs_limit`), at least 1. */
    val revsLimit: Int = 100,
    /** How the file is encrypted: [Encryption.KeyStore] (a random key sealed by the Android Keystore) or [Encryption.Passphrase]; `null`: plain. */
    val encryption: Encryption? = null,
)

/** How a database file is encrypted at rest (SQLCipher for the file, ChaCha20-Poly1305 for its blobs). */
sealed class Encryption {
    /**
     * A random 256-bit key made on first open and kept by the Android Keystore under [label] (or, with
     * [keyStoreDirectory], in a file key store there: desktops and JVM tests), then reused.
     */
    data class KeyStore(val label: String, val keyStoreDirectory: String? = null) : Encryption()

    /** A key derived from [passphrase] with Argon2id and the salt kept in `<file>.salt`. */
    class Passphrase(val passphrase: String) : Encryption() {
        override fun toString() = "Passphrase(<redacted>)"
    }

    internal fun toFfi(): FfiEncryption = when (this) {
        is KeyStore -> FfiEncryption.KeyStore(label, keyStoreDirectory)
        is Passphrase -> FfiEncryption.Passphrase(passphrase)
    }
}

/**
 * A database: one SQLite file holding collections of JSON documents.
 *
 * ```
 * val db = Database.open(File(context.filesDir, "camp.db").path)
 * val children = db.createCollection("children")
 * ```
 *
 * [close] closes the file (like Couchbase Lite's `Database.close()`): every collection and
 * replicator of it fails with [OutpostException.Closed] afterwards.
 */
class Database private constructor(internal val ffi: FfiDatabase) : AutoCloseable {
    companion object {
        /** Opens (creating if needed) the database file at [path]. */
        suspend fun open(path: String, config: DatabaseConfig = DatabaseConfig()): Database = io {
            Database(
                FfiDatabase.open(
                    path,
                    FfiDatabaseConfig(config.fullDurability, config.revsLimit.toUInt(), config.encryption?.toFfi()),
                ),
            )
        }
    }

    /** The database's UUID (stable for the life of the file). */
    val uuid: String = rethrowing { ffi.uuid() }

    /** The path it was opened at. */
    val path: String = rethrowing { ffi.path() }

    /** The sequence number of the latest change. */
    suspend fun lastSequence(): Long = io { ffi.lastSequence().toLong() }

    /** The default collection (`_default`), which always exists. */
    suspend fun defaultCollection(): Collection = io { Collection(ffi.defaultCollection()) }

    /** An existing collection; [OutpostException.CollectionNotFound] if there is none. */
    suspend fun collection(name: String): Collection = io { Collection(ffi.collection(name)) }

    /** The collection [name], created if it does not exist. */
    suspend fun createCollection(name: String): Collection = io { Collection(ffi.createCollection(name)) }

    /** Names of every collection, sorted. */
    suspend fun collectionNames(): List<String> = io { ffi.collectionNames() }

    /** Deletes a collection and its documents. */
    suspend fun deleteCollection(name: String) = io { ffi.deleteCollection(name) }

    /**
     * Closes the database file for every handle of it (collections and replicators of it fail
     * with [OutpostException.Closed] afterwards). Closing twice is fine. Blocks briefly.
     */
    override fun close() = rethrowing { ffi.closeDatabase() }

    override fun toString(): String = "Database($path)"
}

/** A document as read: its winning revision, body as JSON text (see `toMap`, `decode`). */
data class Document(
    val id: String,
    /** Winning revision id (`GENERATION-HASH`); pass it to the next save. */
    val rev: String,
    /** The body as JSON text (`{}` for a deletion). */
    val json: String,
    val deleted: Boolean,
    /** Revision ids of the losing live leaves, if the document is in conflict. */
    val conflicts: List<String>,
    /** Database sequence of the document's latest change. */
    val sequence: Long,
)

internal fun org.outpost.ffi.Document.toPublic() = Document(id, rev, body, deleted, conflicts, sequence.toLong())

/** One entry of the changes feed: a document at its latest change. */
data class DocumentChange(val sequence: Long, val id: String, val rev: String, val deleted: Boolean)

/** A page of the changes feed; pass [lastSequence] as `since` for the next one. */
data class ChangesPage(val changes: List<DocumentChange>, val lastSequence: Long)

/** What a change listener is told after a committed write. */
data class ChangeEvent(val collection: String, val docIds: List<String>, val sequence: Long)

internal fun org.outpost.ffi.ChangeEvent.toPublic() = ChangeEvent(collection, docIds, sequence.toLong())

/** One write of [Collection.write]. */
sealed class WriteOperation {
    /** Saves [json] (a JSON object) over [rev] (null to create). */
    data class Save(val id: String, val json: String, val rev: String? = null) : WriteOperation()
    /** Deletes the document over [rev]. */
    data class Delete(val id: String, val rev: String) : WriteOperation()
    /** Removes the document and its history from this database only. */
    data class Purge(val id: String) : WriteOperation()

    internal fun toFfi(): FfiWrite = when (this) {
        is Save -> FfiWrite.Save(id, rev, json)
        is Delete -> FfiWrite.Delete(id, rev)
        is Purge -> FfiWrite.Purge(id)
    }
}

/**
 * A registered listener; [remove] unregisters it. It stays registered until then, whether or
 * not the token is kept (like Couchbase Lite's `ListenerToken`).
 */
class ListenerToken internal constructor(private val handle: FfiHandle, private val job: Job?) : AutoCloseable {
    /** Whether it is still registered. */
    val isActive: Boolean get() = handle.isActive()

    /** Unregisters the listener; no call starts after this returns. Removing twice is fine. */
    fun remove() {
        handle.cancel()
        job?.cancel()
    }

    /** Same as [remove]. */
    override fun close() = remove()
}

/**
 * Calls [block] for each value given to the returned function, in order, on [dispatcher]; the
 * returned job ends the calls.
 */
internal fun <E> onDispatcher(dispatcher: CoroutineDispatcher, block: (E) -> Unit): Pair<(E) -> Unit, Job> {
    val channel = Channel<E>(Channel.UNLIMITED)
    val scope = CoroutineScope(SupervisorJob() + dispatcher)
    scope.launch {
        for (e in channel) runCatching { block(e) }
    }
    val job = scope.coroutineContext[Job]!!
    job.invokeOnCompletion { channel.close() }
    return { e: E -> channel.trySend(e); Unit } to job
}

/** Registers a listener made by [register] from a send function, returning a [ListenerToken]. */
internal fun <E> listen(dispatcher: CoroutineDispatcher, block: (E) -> Unit, register: ((E) -> Unit) -> FfiHandle): ListenerToken {
    val (send, job) = onDispatcher(dispatcher, block)
    return ListenerToken(register(send), job)
}

/** A flow of the values given to [register]'s send function while collected. */
internal fun <E> flowOf(register: ((E) -> Unit) -> FfiHandle): Flow<E> = callbackFlow {
    val handle = register { trySend(it) }
    awaitClose { handle.cancel(); handle.close() }
}.buffer(Channel.UNLIMITED)

/**
 * A collection of JSON documents in a [Database]. Documents are saved as maps, as
 * kotlinx.serialization classes (`save(id, value)`, `get<T>(id)`, `update`), or as JSON text.
 */
class Collection internal constructor(internal val ffi: FfiCollection) {
    /** The collection's name. */
    val name: String = ffi.name()

    /** The document [id] as read (a deleted one too, with `deleted` set), or null if there is none. */
    suspend fun getDocument(id: String): Document? = io { ffi.get(id)?.toPublic() }

    /** A given revision of the document (a deletion too), or null. */
    suspend fun getRevision(id: String, rev: String): Document? = io { ffi.getRevision(id, rev)?.toPublic() }

    /**
     * Saves [json] (a JSON object) as the document [id] over [rev] (null to create); returns the
     * new revision. [OutpostException.Conflict] if [rev] is not the current revision.
     */
    suspend fun saveJson(id: String, json: String, rev: String? = null): String = io { ffi.save(id, rev, json) }

    /** Deletes the document [id] over [rev]; returns the tombstone's revision. */
    suspend fun delete(id: String, rev: String): String = io { ffi.delete(id, rev) }

    /** Removes the document and its history from this database only (not replicated); whether it existed. */
    suspend fun purge(id: String): Boolean = io { ffi.purge(id) }

    /** Number of live (not deleted) documents. */
    suspend fun count(): Long = io { ffi.count().toLong() }

    /** Up to [limit] changes after sequence [since] (0 for all). */
    suspend fun changes(since: Long = 0, limit: Int = 1_000): ChangesPage {
        require(since >= 0 && limit >= 0) { "since and limit must not be negative" }
        return io {
            val page = ffi.changes(since.toULong(), limit.toUInt())
            ChangesPage(page.changes.map { DocumentChange(it.sequence.toLong(), it.id, it.rev, it.deleted) }, page.lastSequence.toLong())
        }
    }

    /**
     * Applies [operations] in one transaction: all or nothing. Returns, for each in order, the
     * new revision (null for a purge).
     */
    suspend fun write(operations: List<WriteOperation>): List<String?> = io { ffi.batch(operations.map { it.toFfi() }) }

    /** Calls [block] on [dispatcher] after each committed write to this collection, until removed. */
    fun addChangeListener(dispatcher: CoroutineDispatcher = Outpost.callbackDispatcher, block: (ChangeEvent) -> Unit): ListenerToken =
        listen(dispatcher, block) { send -> ffi.addChangeListener(changeListener(send)) }

    /** Calls [block] on [dispatcher] after each committed write to the document [id], until removed. */
    fun addDocumentChangeListener(id: String, dispatcher: CoroutineDispatcher = Outpost.callbackDispatcher, block: (ChangeEvent) -> Unit): ListenerToken =
        listen(dispatcher, block) { send -> ffi.addDocumentListener(id, changeListener(send)) }

    /** Every committed write to this collection while collected. */
    fun changeFlow(): Flow<ChangeEvent> = flowOf { send -> ffi.addChangeListener(changeListener(send)) }

    /** Every committed write to the document [id] while collected. */
    fun documentChangeFlow(id: String): Flow<ChangeEvent> = flowOf { send -> ffi.addDocumentListener(id, changeListener(send)) }

    override fun toString(): String = "Collection($name)"
}

private fun changeListener(send: (ChangeEvent) -> Unit) = object : org.outpost.ffi.ChangeListener {
    override fun onChange(change: org.outpost.ffi.ChangeEvent) = send(change.toPublic())
}
