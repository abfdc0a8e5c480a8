// The hand-written Swift layer over the generated bindings (Generated/Outpost.swift,
// same module): async functions that keep SQLite work off the caller's actor,
// AsyncStreams for collection changes and replicator status, and closures
// for listeners, filters, conflict resolvers and password authenticators;
// network sync through a Listener and URL replicator targets.
import Foundation
import os

// MARK: - Opening

public extension Database {
    /// Opens (creating if needed) the database file at `path`.
    ///
    /// ```swift
    /// let db = try await Database.open(at: dir.appendingPathComponent("camp.db").path)
    /// ```
    static func open(at path: String, config: DatabaseConfig = DatabaseConfig()) async throws -> Database {
        try await Task.detached { try Database.open(path: path, config: config) }.value
    }
}

// MARK: - Documents

public extension Collection {
    /// The document `id` (a deleted one too, with `deleted` set), or nil if there is none.
    func document(_ id: String) async throws -> Document? {
        try await Task.detached { try self.get(id: id) }.value
    }

    /// Saves `body` (a JSON object) over `rev` (nil to create); returns the new revision.
    /// Throws `OutpostError.Conflict` if `rev` is not the current revision.
    @discardableResult
    func save(_ id: String, body: String, rev: String? = nil) async throws -> String {
        try await Task.detached { try self.save(id: id, rev: rev, body: body) }.value
    }

    /// Deletes the document `id` over `rev`; returns the tombstone's revision.
    @discardableResult
    func delete(_ id: String, rev: String) async throws -> String {
        try await Task.detached { try self.delete(id: id, rev: rev) }.value
    }

    /// Applies `operations` in one transaction: all or nothing.
    @discardableResult
    func write(_ operations: [WriteOperation]) async throws -> [String?] {
        try await Task.detached { try self.batch(operations: operations) }.value
    }

    /// Calls `block` after each committed write until the handle is cancelled (or the database
    /// closes): discarding the handle leaves the listener registered.
    @discardableResult
    func addChangeListener(_ block: @escaping @Sendable (ChangeEvent) -> Void) -> ListenerHandle {
        addChangeListener(listener: ClosureChangeListener(block))
    }

    /// Every committed write to this collection, from now on.
    func changeStream() -> AsyncStream<ChangeEvent> {
        AsyncStream { continuation in
            let handle = addChangeListener(listener: ClosureChangeListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Every committed write to the document `id`, from now on.
    func documentChangeStream(_ id: String) -> AsyncStream<ChangeEvent> {
        AsyncStream { continuation in
            let handle = addDocumentListener(id: id, listener: ClosureChangeListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }
}

// MARK: - Typed documents

/// A document read as `Value`: its winning revision and its body decoded.
public struct TypedDocument<Value> {
    /// Document id.
    public let id: String
    /// Winning revision id; pass it to the next save.
    public let rev: String
    /// The body, decoded.
    public let value: Value
    /// Revision ids of the losing live leaves, if the document is in conflict.
    public let conflicts: [String]
    /// Database sequence of the document's latest change.
    public let sequence: Int64
}

extension TypedDocument: Sendable where Value: Sendable {}
extension TypedDocument: Equatable where Value: Equatable {}

public extension Document {
    /// The body decoded as `Value` (fields the type does not know are ignored).
    func decode<Value: Decodable>(as type: Value.Type = Value.self) throws -> Value {
        try decodeBody(body, of: id)
    }
}

public extension ConflictingRevision {
    /// This conflicting revision's body decoded as `Value`, for a resolver.
    func decode<Value: Decodable>(as type: Value.Type = Value.self) throws -> Value {
        try decodeBody(body, of: rev)
    }
}

public extension Resolution {
    /// A resolution that saves `value` as the merged document.
    static func merge<Value: Encodable>(_ value: Value) throws -> Resolution {
        .merge(body: try encodeBody(value))
    }
}

private func decodeBody<Value: Decodable>(_ body: String, of what: String) throws -> Value {
    do {
        return try JSONDecoder().decode(Value.self, from: Data(body.utf8))
    } catch {
        throw OutpostError.InvalidInput(message: "\(what) does not decode as \(Value.self): \(error)")
    }
}

private func encodeBody<Value: Encodable>(_ value: Value) throws -> String {
    do {
        return String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    } catch {
        throw OutpostError.InvalidInput(message: "\(Value.self) does not encode to JSON: \(error)")
    }
}

public extension Collection {
    /// Saves `value` (encoded to a JSON object) as the document `id` over `rev` (nil to
    /// create); returns the new revision.
    ///
    /// ```swift
    /// struct Child: Codable { var name: String; var age: Int }
    /// let rev = try await children.save("child-1", Child(name: "Amina", age: 7))
    /// ```
    @discardableResult
    func save<Value: Encodable>(_ id: String, _ value: Value, rev: String? = nil) async throws -> String {
        try await save(id, body: try encodeBody(value), rev: rev)
    }

    /// The live document `id` decoded as `Value`, or nil if there is none or it is deleted.
    func document<Value: Decodable>(_ id: String, as type: Value.Type = Value.self) async throws -> TypedDocument<Value>? {
        guard let doc = try await document(id), !doc.deleted else { return nil }
        return TypedDocument(id: doc.id, rev: doc.rev, value: try doc.decode(as: Value.self),
                             conflicts: doc.conflicts, sequence: Int64(doc.sequence))
    }

    /// Reads the document `id`, saves `change(current)` over it (current is nil if there is
    /// none or it is deleted), and returns the new revision. If another writer saved in
    /// between, it reads again and calls `change` again, up to `maxAttempts` times in all:
    /// `change` must be free of side effects. Throws `OutpostError.Conflict` if every
    /// attempt lost the race.
    ///
    /// ```swift
    /// try await children.update("child-1", as: Child.self) { child in
    ///     var child = child!; child.age += 1; return child
    /// }
    /// ```
    @discardableResult
    func update<Value: Codable>(
        _ id: String, as type: Value.Type, maxAttempts: Int = 10, _ change: (Value?) throws -> Value
    ) async throws -> String {
        precondition(maxAttempts >= 1, "maxAttempts must be at least 1")
        var attempt = 1
        while true {
            let doc = try await document(id)
            let current = doc.flatMap { $0.deleted ? nil : $0 }
            let next = try change(try current?.decode(as: Value.self))
            do {
                return try await save(id, next, rev: doc?.rev)
            } catch OutpostError.Conflict(let message) {
                if attempt >= maxAttempts { throw OutpostError.Conflict(message: message) }
                attempt += 1
            }
        }
    }
}

// MARK: - Replication

public extension Database {
    /// A replicator between this database and `target`.
    ///
    /// ```swift
    /// let replicator = try phone.replicator(to: .localDatabase(database: backup),
    ///                                       config: ReplicatorConfig(continuous: true))
    /// try replicator.start()
    /// for await status in replicator.statusStream() { print(status.activity) }
    /// ```
    func replicator(to target: ReplicatorTarget, config: ReplicatorConfig = ReplicatorConfig()) throws -> Replicator {
        try Replicator(database: self, target: target, config: config)
    }
}

public extension Replicator {
    /// The current status, then every change of it.
    func statusStream() -> AsyncStream<ReplicatorStatus> {
        AsyncStream { continuation in
            // The snapshot is read and sent under the same lock as the
            // listener's sends, so it can never follow a newer status.
            let lock = NSLock()
            let handle = addStatusListener(listener: ClosureStatusListener { status in
                lock.lock()
                defer { lock.unlock() }
                continuation.yield(status)
            })
            lock.lock()
            continuation.yield(status())
            lock.unlock()
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Each group of documents replicated (or refused), from now on.
    func documentStream() -> AsyncStream<[DocumentReplication]> {
        AsyncStream { continuation in
            let handle = addDocumentListener(listener: ClosureDocumentListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Asks the replicator to stop and waits until it has; returns the final status.
    @discardableResult
    func stopAndWait() async -> ReplicatorStatus {
        let statuses = statusStream()
        stop()
        for await status in statuses where status.activity == .stopped {
            return status
        }
        return status()
    }
}

public extension Failure {
    /// This failure as the error it reports, to match by case:
    ///
    /// ```swift
    /// if case .Auth = replicator.status().error?.asError { askForThePasswordAgain() }
    /// ```
    var asError: OutpostError {
        switch kind {
        case .invalidInput: .InvalidInput(message: message)
        case .notFound: .NotFound(message: message)
        case .conflict: .Conflict(message: message)
        case .collectionNotFound: .CollectionNotFound(message: message)
        case .closed: .Closed(message: message)
        case .auth: .Auth(message: message)
        case .tls: .Tls(message: message)
        case .network: .Network(message: message)
        case .peer: .Peer(message: message)
        case .readOnly: .ReadOnly(message: message)
        case .notServed: .NotServed(message: message)
        case .protocolMismatch: .ProtocolMismatch(message: message)
        case .keyStore: .KeyStore(message: message)
        case .stopped: .Stopped(message: message)
        case .storage: .Storage(message: message)
        case .corrupt: .Corrupt(message: message)
        case .internal: .Internal(message: message)
        }
    }
}

/// A conflict resolver from a closure; it must be deterministic. If it throws, the default
/// resolution is used (a deletion wins, else the default winner).
///
/// ```swift
/// conflictResolver { conflict in
///     try .merge(conflict.revisions.map { try $0.decode(as: Child.self) }.max { $0.age < $1.age }!)
/// }
/// ```
public func conflictResolver(_ block: @escaping @Sendable (Conflict) throws -> Resolution) -> ConflictResolver {
    ClosureConflictResolver(block)
}

/// A replication filter from a closure: true replicates the revision.
public func replicationFilter(_ block: @escaping @Sendable (FilteredRevision) throws -> Bool) -> ReplicationFilter {
    ClosureReplicationFilter(block)
}

// MARK: - Network sync

/// A listener authenticator checking basic credentials with `block` (e.g. against the app's
/// own accounts), called on a background thread. Throwing refuses the connection.
///
/// ```swift
/// let listener = try await Listener.start(database: db, config: ListenerConfig(
///     authenticator: passwordAuthenticator { user, password in user == "hub" && password == secret }))
/// showQrCode(listener.urls()[0], listener.fingerprint())
/// ```
public func passwordAuthenticator(
    _ block: @escaping @Sendable (_ username: String, _ password: String) throws -> Bool
) -> ListenerAuthenticator {
    ListenerAuthenticator.password(authenticator: ClosurePasswordAuthenticator(block))
}

/// A listener authenticator accepting these users (name to password). The passwords are
/// hashed (salted Argon2id, deliberately slow) off the caller's actor and not kept.
public func usersAuthenticator(_ users: [String: String]) async throws -> ListenerAuthenticator {
    try await Task.detached { try ListenerAuthenticator.users(users: users) }.value
}

public extension ReplicatorTarget {
    /// The listener at `url` (`wss://host:port/db`), with the credentials to present and the
    /// certificates to trust (public CAs if `trust` is nil).
    ///
    /// ```swift
    /// let replicator = try db.replicator(
    ///     to: .url(url, authentication: .basic(username: "worker", password: password), trust: .selfSignedOnly),
    ///     config: ReplicatorConfig(continuous: true))
    /// try replicator.start()
    /// ```
    static func url(
        _ url: String,
        authentication: ClientAuthentication? = nil,
        trust: ServerTrust? = nil,
        heartbeatMs: UInt64 = 30_000
    ) throws -> ReplicatorTarget {
        try ReplicatorTarget.url(config: RemoteTargetConfig(
            url: url, authentication: authentication, serverTrust: trust, heartbeatMs: heartbeatMs))
    }
}

// MARK: - Logging

/// Outpost's log (like Couchbase Lite's `LogSinks`): messages at `level` and above go to
/// `sink`, called on the thread that logged (often a replication thread), so it must return
/// quickly. Nothing is logged until a sink is set; `OutpostLog.osLog` writes to the unified
/// log. Passwords are never logged, and credentials in URLs are masked.
///
/// ```swift
/// OutpostLog.level = .info
/// OutpostLog.sink = OutpostLog.osLog
/// ```
public enum OutpostLog {
    public typealias Sink = @Sendable (_ level: LogLevel, _ domain: String, _ message: String) -> Void

    private static let state = LogState()

    /// The least severe level passed to `sink`; `.warning` by default.
    public static var level: LogLevel {
        get { state.read().level }
        set { state.update { $0.level = newValue } }
    }

    /// Receives each message (level, domain such as `replication::replicator`, text); nil: none.
    public static var sink: Sink? {
        get { state.read().sink }
        set { state.update { $0.sink = newValue } }
    }

    /// A sink writing to the unified log (`os_log`), subsystem `org.outpost`, one category
    /// per domain.
    public static let osLog: Sink = { level, domain, message in
        let type: OSLogType = switch level {
        case .error: .error
        case .warning: .default
        case .info: .info
        case .debug, .verbose, .none: .debug
        }
        Logger(subsystem: "org.outpost", category: domain).log(level: type, "\(message, privacy: .public)")
    }
}

/// `OutpostLog`'s level and sink behind a lock, installed in the Rust library on each change.
private final class LogState: @unchecked Sendable {
    struct Values {
        var level: LogLevel = .warning
        var sink: OutpostLog.Sink?
    }

    private let lock = NSLock()
    private var values = Values()

    func read() -> Values {
        lock.lock()
        defer { lock.unlock() }
        return values
    }

    func update(_ change: (inout Values) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&values)
        setLogSink(sink: values.sink.map { ClosureLogSink($0) }, level: values.level)
    }
}

// MARK: - Closure adapters

final class ClosureLogSink: LogSink, @unchecked Sendable {
    private let block: OutpostLog.Sink
    init(_ block: @escaping OutpostLog.Sink) { self.block = block }
    func log(level: LogLevel, domain: String, message: String) throws { block(level, domain, message) }
}

final class ClosureChangeListener: ChangeListener, @unchecked Sendable {
    private let block: @Sendable (ChangeEvent) -> Void
    init(_ block: @escaping @Sendable (ChangeEvent) -> Void) { self.block = block }
    func onChange(change: ChangeEvent) throws { block(change) }
}

final class ClosureStatusListener: ReplicatorStatusListener, @unchecked Sendable {
    private let block: @Sendable (ReplicatorStatus) -> Void
    init(_ block: @escaping @Sendable (ReplicatorStatus) -> Void) { self.block = block }
    func onStatus(status: ReplicatorStatus) throws { block(status) }
}

final class ClosureDocumentListener: DocumentReplicationListener, @unchecked Sendable {
    private let block: @Sendable ([DocumentReplication]) -> Void
    init(_ block: @escaping @Sendable ([DocumentReplication]) -> Void) { self.block = block }
    func onDocuments(documents: [DocumentReplication]) throws { block(documents) }
}

final class ClosureConflictResolver: ConflictResolver, @unchecked Sendable {
    private let block: @Sendable (Conflict) throws -> Resolution
    init(_ block: @escaping @Sendable (Conflict) throws -> Resolution) { self.block = block }
    func resolve(conflict: Conflict) throws -> Resolution { try block(conflict) }
}

final class ClosureReplicationFilter: ReplicationFilter, @unchecked Sendable {
    private let block: @Sendable (FilteredRevision) throws -> Bool
    init(_ block: @escaping @Sendable (FilteredRevision) throws -> Bool) { self.block = block }
    func include(revision: FilteredRevision) throws -> Bool { try block(revision) }
}

final class ClosurePasswordAuthenticator: PasswordAuthenticator, @unchecked Sendable {
    private let block: @Sendable (String, String) throws -> Bool
    init(_ block: @escaping @Sendable (String, String) throws -> Bool) { self.block = block }
    func authenticate(username: String, password: String) throws -> Bool { try block(username, password) }
}
