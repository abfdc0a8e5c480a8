// The local store: Database, Collection, documents as read, the changes feed,
// batch writes and change listeners, over the generated module.
@_implementationOnly import OutpostBindings
import Foundation

/// Options for `Database.open(at:config:)`.
public struct DatabaseConfig: Sendable, Equatable {
    /// `true`: every commit is on disk when it returns (slower); `false`: a power cut may lose
    /// the last commits, never the file.
    public var fullDurability: Bool
    /// Ancestor revision ids kept per branch (CouchDB's `revs_limit`), at least 1.
    public var revsLimit: Int
    /// How the file is encrypted: `.keyStore` (a random key in the Keychain, this device only) or
    /// `.passphrase`; `nil`: plain.
    public var encryption: Encryption?

    public init(fullDurability: Bool = false, revsLimit: Int = 100, encryption: Encryption? = nil) {
        self.fullDurability = fullDurability
        self.revsLimit = revsLimit
        self.encryption = encryption
    }
}

/// How a database file is encrypted at rest (SQLCipher for the file, ChaCha20-Poly1305 for its blobs).
public enum Encryption: Sendable, Equatable, CustomStringConvertible {
    /// A random 256-bit key made on first open and kept in the Keychain under `label` (or, with
    /// `keyStoreDirectory`, in a file key store there), then reused.
    case keyStore(label: String, keyStoreDirectory: String? = nil)
    /// A key derived from the passphrase with Argon2id and the salt kept in `<file>.salt`.
    case passphrase(String)

    public var description: String {
        switch self {
        case .keyStore(let label, _): return "keyStore(\(label))"
        case .passphrase: return "passphrase(<redacted>)"
        }
    }

    var ffi: OutpostBindings.DatabaseEncryption {
        switch self {
        case .keyStore(let label, let dir): return .keyStore(label: label, keyStoreDirectory: dir)
        case .passphrase(let p): return .passphrase(passphrase: p)
        }
    }
}

/// A database: one SQLite file holding collections of JSON documents.
///
/// ```swift
/// let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
/// ```
///
/// `close()` closes the file (like Couchbase Lite's `Database.close()`): its collections and
/// replicators fail with `OutpostError.closed` afterwards.
public final class Database: @unchecked Sendable {
    let ffi: OutpostBindings.Database

    private init(_ ffi: OutpostBindings.Database) { self.ffi = ffi }

    /// Opens (creating if needed) the database file at `path`.
    public static func open(at path: String, config: DatabaseConfig = DatabaseConfig()) async throws -> Database {
        guard config.revsLimit > 0 else { throw OutpostError.invalidInput("revsLimit must be at least 1") }
        let ffiConfig = OutpostBindings.DatabaseConfig(
            fullDurability: config.fullDurability, revsLimit: UInt32(clamping: config.revsLimit),
            encryption: config.encryption?.ffi)
        return try await detached { Database(try OutpostBindings.Database.open(path: path, config: ffiConfig)) }
    }

    /// The database's UUID (stable for the life of the file).
    public var uuid: String { ffi.uuid() }

    /// The path it was opened at.
    public var path: String { ffi.path() }

    /// The sequence number of the latest change.
    public func lastSequence() async throws -> Int64 {
        try await detached { Int64(try self.ffi.lastSequence()) }
    }

    /// The default collection (`_default`), which always exists.
    public func defaultCollection() async throws -> Collection {
        try await detached { Collection(try self.ffi.defaultCollection()) }
    }

    /// An existing collection; `OutpostError.collectionNotFound` if there is none.
    public func collection(_ name: String) async throws -> Collection {
        try await detached { Collection(try self.ffi.collection(name: name)) }
    }

    /// The collection `name`, created if it does not exist.
    @discardableResult
    public func createCollection(_ name: String) async throws -> Collection {
        try await detached { Collection(try self.ffi.createCollection(name: name)) }
    }

    /// Names of every collection, sorted.
    public func collectionNames() async throws -> [String] {
        try await detached { try self.ffi.collectionNames() }
    }

    /// Deletes a collection and its documents.
    public func deleteCollection(_ name: String) async throws {
        try await detached { try self.ffi.deleteCollection(name: name) }
    }

    /// Closes the database file for every handle of it. Closing twice is fine.
    public func close() throws {
        try rethrowing { try ffi.closeDatabase() }
    }
}

/// A document as read: its winning revision, the body as JSON text (see `decode(as:)`).
public struct Document: RevisionBody, Sendable, Equatable {
    public let id: String
    /// Winning revision id (`GENERATION-HASH`); pass it to the next save.
    public let rev: String
    /// The body as JSON text (`{}` for a deletion).
    public let json: String
    public let deleted: Bool
    /// Revision ids of the losing live leaves, if the document is in conflict.
    public let conflicts: [String]
    /// Database sequence of the document's latest change.
    public let sequence: Int64

    init(_ d: OutpostBindings.Document) {
        self.init(id: d.id, rev: d.rev, json: d.body, deleted: d.deleted, conflicts: d.conflicts, sequence: Int64(d.sequence))
    }

    init(id: String, rev: String, json: String, deleted: Bool, conflicts: [String], sequence: Int64) {
        self.id = id
        self.rev = rev
        self.json = json
        self.deleted = deleted
        self.conflicts = conflicts
        self.sequence = sequence
    }

}

/// One entry of the changes feed: a document at its latest change.
public struct DocumentChange: Sendable, Equatable {
    public let sequence: Int64
    public let id: String
    public let rev: String
    public let deleted: Bool
}

/// A page of the changes feed; pass `lastSequence` as `since` for the next one.
public struct ChangesPage: Sendable, Equatable {
    public let changes: [DocumentChange]
    public let lastSequence: Int64
}

/// What a change listener is told after a committed write.
public struct ChangeEvent: Sendable, Equatable {
    public let collection: String
    public let docIDs: [String]
    public let sequence: Int64

    init(_ e: OutpostBindings.ChangeEvent) {
        collection = e.collection
        docIDs = e.docIds
        sequence = Int64(e.sequence)
    }
}

/// One write of `Collection.write(_:)`.
public enum WriteOperation: Sendable, Equatable {
    /// Saves `json` (a JSON object) over `rev` (nil to create).
    case save(id: String, json: String, rev: String? = nil)
    /// Deletes the document over `rev`.
    case delete(id: String, rev: String)
    /// Removes the document and its history from this database only.
    case purge(id: String)

    /// Saves `value` encoded as JSON over `rev`.
    public static func save<Value: Encodable>(id: String, value: Value, rev: String? = nil) throws -> WriteOperation {
        .save(id: id, json: try encodeJSON(value), rev: rev)
    }

    var ffi: OutpostBindings.WriteOperation {
        switch self {
        case .save(let id, let json, let rev): .save(id: id, rev: rev, body: json)
        case .delete(let id, let rev): .delete(id: id, rev: rev)
        case .purge(let id): .purge(id: id)
        }
    }
}

/// A registered listener; `remove()` unregisters it. It stays registered until then, whether
/// or not the token is kept (like Couchbase Lite's `ListenerToken`).
public final class ListenerToken: @unchecked Sendable {
    private let handle: ListenerHandle

    init(_ handle: ListenerHandle) { self.handle = handle }

    /// Whether it is still registered.
    public var isActive: Bool { handle.isActive() }

    /// Unregisters the listener: no callback is queued after this returns. Removing twice is fine.
    public func remove() { handle.cancel() }
}

/// A collection of JSON documents in a `Database`: documents are saved as `Codable` values
/// (`save(_:_:rev:)`, `document(_:as:)`, `update(_:as:_:)`) or as JSON text.
public final class Collection: @unchecked Sendable {
    let ffi: OutpostBindings.Collection

    init(_ ffi: OutpostBindings.Collection) { self.ffi = ffi }

    /// The collection's name.
    public var name: String { ffi.name() }

    /// The document `id` as read (a deleted one too, with `deleted` set), or nil if there is none.
    public func document(_ id: String) async throws -> Document? {
        try await detached { try self.ffi.get(id: id).map(Document.init) }
    }

    /// A given revision of the document (a deletion too), or nil.
    public func document(_ id: String, rev: String) async throws -> Document? {
        try await detached { try self.ffi.getRevision(id: id, rev: rev).map(Document.init) }
    }

    /// Saves `json` (a JSON object) as the document `id` over `rev` (nil to create); returns the
    /// new revision. `OutpostError.conflict` if `rev` is not the current revision.
    @discardableResult
    public func save(_ id: String, json: String, rev: String? = nil) async throws -> String {
        try await detached { try self.ffi.save(id: id, rev: rev, body: json) }
    }

    /// Deletes the document `id` over `rev`; returns the tombstone's revision.
    @discardableResult
    public func delete(_ id: String, rev: String) async throws -> String {
        try await detached { try self.ffi.delete(id: id, rev: rev) }
    }

    /// Removes the document and its history from this database only; whether it existed.
    @discardableResult
    public func purge(_ id: String) async throws -> Bool {
        try await detached { try self.ffi.purge(id: id) }
    }

    /// Number of live (not deleted) documents.
    public func count() async throws -> Int {
        try await detached { Int(try self.ffi.count()) }
    }

    /// Up to `limit` changes after sequence `since` (0 for all).
    public func changes(since: Int64 = 0, limit: Int = 1_000) async throws -> ChangesPage {
        guard since >= 0, limit >= 0 else { throw OutpostError.invalidInput("since and limit must not be negative") }
        return try await detached {
            let page = try self.ffi.changes(since: UInt64(since), limit: UInt32(clamping: limit))
            return ChangesPage(
                changes: page.changes.map { DocumentChange(sequence: Int64($0.sequence), id: $0.id, rev: $0.rev, deleted: $0.deleted) },
                lastSequence: Int64(page.lastSequence))
        }
    }

    /// Applies `operations` in one transaction: all or nothing. Returns, for each in order, the
    /// new revision (nil for a purge).
    @discardableResult
    public func write(_ operations: [WriteOperation]) async throws -> [String?] {
        try await detached { try self.ffi.batch(operations: operations.map(\.ffi)) }
    }

    /// Calls `block` on `queue` after each committed write to this collection, until removed.
    @discardableResult
    public func addChangeListener(
        queue: DispatchQueue = OutpostSettings.callbackQueue, _ block: @escaping @Sendable (ChangeEvent) -> Void
    ) -> ListenerToken {
        ListenerToken(ffi.addChangeListener(listener: ClosureChangeListener { e in queue.async { block(e) } }))
    }

    /// Calls `block` on `queue` after each committed write to the document `id`, until removed.
    @discardableResult
    public func addDocumentChangeListener(
        _ id: String, queue: DispatchQueue = OutpostSettings.callbackQueue, _ block: @escaping @Sendable (ChangeEvent) -> Void
    ) -> ListenerToken {
        ListenerToken(ffi.addDocumentListener(id: id, listener: ClosureChangeListener { e in queue.async { block(e) } }))
    }

    /// Every committed write to this collection while iterated.
    public func changeStream() -> AsyncStream<ChangeEvent> {
        AsyncStream { continuation in
            let handle = ffi.addChangeListener(listener: ClosureChangeListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Every committed write to the document `id` while iterated.
    public func documentChangeStream(_ id: String) -> AsyncStream<ChangeEvent> {
        AsyncStream { continuation in
            let handle = ffi.addDocumentListener(id: id, listener: ClosureChangeListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

final class ClosureChangeListener: ChangeListener, @unchecked Sendable {
    private let block: @Sendable (ChangeEvent) -> Void
    init(_ block: @escaping @Sendable (ChangeEvent) -> Void) { self.block = block }
    func onChange(change: OutpostBindings.ChangeEvent) throws { block(ChangeEvent(change)) }
}
