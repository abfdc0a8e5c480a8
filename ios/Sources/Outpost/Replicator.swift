// The replicator (active peer): endpoints, configuration, filters and conflict
// resolvers that see decoded documents, status and document events.
@_implementationOnly import OutpostBindings
import Foundation

/// Which way documents flow.
public enum Direction: Sendable, Equatable {
    case pushAndPull, push, pull

    init(_ d: OutpostBindings.Direction) {
        switch d {
        case .pushAndPull: self = .pushAndPull
        case .push: self = .push
        case .pull: self = .pull
        }
    }

    var ffi: OutpostBindings.Direction {
        switch self {
        case .pushAndPull: .pushAndPull
        case .push: .push
        case .pull: .pull
        }
    }
}

/// What a replicator is doing.
public enum ActivityLevel: Sendable, Equatable {
    /// Not running (never started, finished, or stopped by an error).
    case stopped
    /// Waiting to retry after a transient error.
    case offline
    /// Opening the connection and reading checkpoints.
    case connecting
    /// Caught up, waiting for changes (continuous).
    case idle
    /// Transferring changes.
    case busy
}

/// Where a replicator replicates to (Couchbase Lite's `Endpoint`).
public enum Endpoint: Sendable {
    /// Another local database: for tests, backups, or two stores in one app.
    case database(Database)
    /// A listener on another device, `wss://host:port/db`, or a
    /// CouchDB-protocol server's database (CouchDB, PouchDB Server),
    /// `https://host/db`.
    case url(String)
}

/// Credentials a replicator presents to a listener.
public enum ClientAuthentication: Sendable {
    /// HTTP basic credentials (sent inside TLS).
    case basic(username: String, password: String)
    /// A TLS client certificate.
    case certificate(TlsIdentity)
}

/// Which listener certificates a replicator accepts.
public enum ServerTrust: Sendable, Equatable {
    /// Certificates issued for the URL's host by a public CA.
    case systemRoots
    /// Certificates issued for the URL's host by one of these CAs (DER, or PEM bytes).
    case caCertificates([Data])
    /// Exactly the certificate with this fingerprint (`sha256:HEX`).
    case pinnedFingerprint(String)
    /// Exactly this certificate (DER).
    case pinnedCertificate(Data)
    /// Any self-signed certificate, nothing CA-issued: stops eavesdroppers, not an active attacker.
    case selfSignedOnly
    /// Any certificate at all. Development only.
    case insecureAcceptAny

    var ffi: OutpostBindings.ServerTrust {
        switch self {
        case .systemRoots: .systemRoots
        case .caCertificates(let certificates): .caCertificates(certificates: certificates)
        case .pinnedFingerprint(let fingerprint): .pinnedFingerprint(fingerprint: fingerprint)
        case .pinnedCertificate(let certificate): .pinnedCertificate(certificate: certificate)
        case .selfSignedOnly: .selfSignedOnly
        case .insecureAcceptAny: .insecureAcceptAny
        }
    }
}

/// A revision with its body as JSON text, decodable.
public protocol RevisionBody {
    var rev: String { get }
    /// The body as JSON text.
    var json: String { get }
}

public extension RevisionBody {
    /// The body decoded as `Value` (fields the type does not know are ignored).
    func decode<Value: Decodable>(as type: Value.Type = Value.self) throws -> Value {
        try decodeJSON(json, of: rev)
    }
}

/// A revision offered to a push or pull filter; `decode(as:)` reads its body.
public struct FilteredRevision: RevisionBody, Sendable {
    public let id: String
    public let rev: String
    public let deleted: Bool
    public let json: String
}

/// One of the revisions in conflict; `decode(as:)` reads its body.
public struct ConflictingRevision: RevisionBody, Sendable {
    public let rev: String
    public let deleted: Bool
    public let json: String
}

/// A document in conflict after a pull; `revisions` has the default winner first.
public struct Conflict: Sendable {
    public let collection: String
    public let id: String
    public let revisions: [ConflictingRevision]
}

/// What a conflict resolver decided.
public enum Resolution: Sendable, Equatable {
    /// Keep this revision (one of the conflict's) and close the others.
    case keep(rev: String)
    /// Save this JSON object as the merged document.
    case merge(json: String)
    /// Delete the document.
    case delete

    /// A resolution that saves `value` as the merged document.
    public static func merge<Value: Encodable>(_ value: Value) throws -> Resolution {
        .merge(json: try encodeJSON(value))
    }
}

/// What to replicate of one collection.
public struct CollectionConfiguration: Sendable {
    public var name: String
    /// Only these documents, if set.
    public var documentIDs: [String]?
    /// Only revisions for which it returns true are pushed; a throwing filter keeps the revision back.
    public var pushFilter: (@Sendable (FilteredRevision) throws -> Bool)?
    /// Only pulled revisions for which it returns true are stored.
    public var pullFilter: (@Sendable (FilteredRevision) throws -> Bool)?
    /// Resolves conflicts after a pull; must be deterministic. If it throws, the default resolution is used.
    public var conflictResolver: (@Sendable (Conflict) throws -> Resolution)?

    public init(
        _ name: String,
        documentIDs: [String]? = nil,
        pushFilter: (@Sendable (FilteredRevision) throws -> Bool)? = nil,
        pullFilter: (@Sendable (FilteredRevision) throws -> Bool)? = nil,
        conflictResolver: (@Sendable (Conflict) throws -> Resolution)? = nil
    ) {
        self.name = name
        self.documentIDs = documentIDs
        self.pushFilter = pushFilter
        self.pullFilter = pullFilter
        self.conflictResolver = conflictResolver
    }

    var ffi: CollectionReplication {
        CollectionReplication(
            name: name, docIds: documentIDs,
            pushFilter: pushFilter.map(ClosureReplicationFilter.init),
            pullFilter: pullFilter.map(ClosureReplicationFilter.init),
            conflictResolver: conflictResolver.map(ClosureConflictResolver.init))
    }
}

/// How a replicator runs (Couchbase Lite's `ReplicatorConfiguration`).
public struct ReplicatorConfiguration: Sendable {
    public var endpoint: Endpoint
    /// Push, pull or both (the default).
    public var direction: Direction = .pushAndPull
    /// Keep running and replicate changes as they happen.
    public var continuous = false
    /// Collections to replicate; empty means the default collection.
    public var collections: [CollectionConfiguration] = []
    /// Attempts before a transient error stops it; nil: 10 one-shot, unlimited continuous.
    public var maxAttempts: Int?
    /// Longest wait between attempts (backoff doubles up to it).
    public var maxAttemptWait: Duration = .seconds(300)
    /// URL endpoints: credentials to present.
    public var authentication: ClientAuthentication?
    /// URL endpoints: which listener certificates are trusted.
    public var serverTrust: ServerTrust = .systemRoots
    /// URL endpoints: interval of heartbeats; a link silent for three intervals is taken as lost.
    public var heartbeat: Duration = .seconds(30)
    /// Delta sync: an edited document moves as the changes from the revision the other side holds,
    /// when the listener allows it too (`ListenerConfig.deltaSync`). Off by default.
    public var deltaSync = false

    public init(endpoint: Endpoint) { self.endpoint = endpoint }
}

private func milliseconds(_ d: Duration) -> UInt64 {
    let (seconds, attoseconds) = d.components
    return seconds < 0 ? 0 : UInt64(seconds) * 1_000 + UInt64(attoseconds / 1_000_000_000_000_000)
}

/// A snapshot of a replicator's state.
public struct ReplicatorStatus: Sendable, Equatable {
    public let activity: ActivityLevel
    /// Changes processed so far.
    public let completed: Int64
    /// Changes known to need processing.
    public let total: Int64
    /// The last error (kept when it stopped the replicator), matched by case.
    public let error: OutpostError?
    /// Bytes sent to the remote on the wire (TLS and framing included) since the replicator was made.
    public let bytesSent: UInt64
    /// Bytes received from the remote on the wire since the replicator was made.
    public let bytesReceived: UInt64

    init(_ s: OutpostBindings.ReplicatorStatus) {
        activity = switch s.activity {
        case .stopped: .stopped
        case .offline: .offline
        case .connecting: .connecting
        case .idle: .idle
        case .busy: .busy
        }
        completed = Int64(s.completed)
        total = Int64(s.total)
        error = s.error.map(OutpostError.init)
        bytesSent = s.bytesSent
        bytesReceived = s.bytesReceived
    }
}

/// One document replicated (or refused) in one direction.
public struct DocumentReplication: Sendable, Equatable {
    public let collection: String
    public let id: String
    public let rev: String
    public let direction: Direction
    public let deleted: Bool
    /// Whether the peer removed access to the document.
    public let accessRemoved: Bool
    /// Why it was not stored, if it was not.
    public let error: OutpostError?

    init(_ d: OutpostBindings.DocumentReplication) {
        collection = d.collection
        id = d.id
        rev = d.rev
        direction = Direction(d.direction)
        deleted = d.deleted
        accessRemoved = d.accessRemoved
        error = d.error.map(OutpostError.init)
    }
}

/// Replicates a database with an `Endpoint`: push, pull or both, one-shot or continuous,
/// resuming from checkpoints. Once started it runs until `stop()` (or a one-shot run's end, or
/// a permanent error), whether or not the app keeps a reference to it.
///
/// ```swift
/// var config = ReplicatorConfiguration(endpoint: .url("wss://192.168.1.20:4984/camp"))
/// config.authentication = .basic(username: "worker", password: password)
/// config.serverTrust = .pinnedFingerprint(hubFingerprint)
/// config.continuous = true
/// let replicator = try Replicator(database: db, configuration: config)
/// try replicator.start()
/// ```
public final class Replicator: @unchecked Sendable {
    private let ffi: OutpostBindings.Replicator

    /// A replicator of `database`; `OutpostError.invalidInput` for an inconsistent configuration
    /// or a bad URL.
    public init(database: Database, configuration c: ReplicatorConfiguration) throws {
        if let attempts = c.maxAttempts, attempts < 0 { throw OutpostError.invalidInput("maxAttempts must not be negative") }
        let config = ReplicatorConfig(
            direction: c.direction.ffi, continuous: c.continuous, collections: c.collections.map(\.ffi),
            maxAttempts: c.maxAttempts.map { UInt32(clamping: $0) }, maxAttemptWaitMs: milliseconds(c.maxAttemptWait),
            deltaSync: c.deltaSync)
        ffi = try rethrowing {
            let target: ReplicatorTarget
            switch c.endpoint {
            case .database(let other):
                guard c.authentication == nil, c.serverTrust == .systemRoots else {
                    throw OutpostError.invalidInput("credentials and server trust apply to a URL endpoint only")
                }
                target = ReplicatorTarget.localDatabase(database: other.ffi)
            case .url(let url):
                let authentication: OutpostBindings.ClientAuthentication? = switch c.authentication {
                case .basic(let username, let password): .basic(username: username, password: password)
                case .certificate(let identity): .certificate(identity: identity.ffi)
                case nil: nil
                }
                target = try ReplicatorTarget.url(config: RemoteTargetConfig(
                    url: url, authentication: authentication, serverTrust: c.serverTrust.ffi, heartbeatMs: milliseconds(c.heartbeat)))
            }
            return try OutpostBindings.Replicator(database: database.ffi, target: target, config: config)
        }
    }

    /// Starts replicating in the background; follow it with `status` or `statusStream()`.
    public func start() throws { try rethrowing { try ffi.start() } }

    /// Asks it to stop; the status goes to `.stopped` when it has.
    public func stop() { ffi.stop() }

    /// Runs to completion (one-shot) or until stopped (continuous); throws the error that stopped it.
    /// Cancelling the calling task stops the replicator: its lifetime is the caller's scope.
    public func run() async throws {
        let ffi = self.ffi
        try await withTaskCancellationHandler {
            try await rethrowingAsync { try await ffi.run() }
        } onCancel: {
            ffi.stop()
        }
    }

    /// Asks it to stop and waits until it has; returns the final status.
    @discardableResult
    public func stopAndWait() async -> ReplicatorStatus {
        let statuses = statusStream()
        stop()
        for await status in statuses where status.activity == .stopped {
            return status
        }
        return status
    }

    /// The current status.
    public var status: ReplicatorStatus { ReplicatorStatus(ffi.status()) }

    /// Calls `block` on `queue` on every status change, until removed.
    @discardableResult
    public func addChangeListener(
        queue: DispatchQueue = OutpostSettings.callbackQueue, _ block: @escaping @Sendable (ReplicatorStatus) -> Void
    ) -> ListenerToken {
        ListenerToken(ffi.addStatusListener(listener: ClosureStatusListener { s in queue.async { block(s) } }))
    }

    /// Calls `block` on `queue` with each group of documents replicated or refused, until removed.
    @discardableResult
    public func addDocumentListener(
        queue: DispatchQueue = OutpostSettings.callbackQueue, _ block: @escaping @Sendable ([DocumentReplication]) -> Void
    ) -> ListenerToken {
        ListenerToken(ffi.addDocumentListener(listener: ClosureDocumentListener { d in queue.async { block(d) } }))
    }

    /// The current status, then every change of it.
    public func statusStream() -> AsyncStream<ReplicatorStatus> {
        AsyncStream { continuation in
            // The snapshot is read and sent under the lock of the listener's sends, so it can
            // never follow a newer status.
            let lock = NSLock()
            let handle = ffi.addStatusListener(listener: ClosureStatusListener { status in
                lock.lock()
                defer { lock.unlock() }
                continuation.yield(status)
            })
            lock.lock()
            continuation.yield(status)
            lock.unlock()
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Each group of documents replicated (or refused) while iterated.
    public func documentStream() -> AsyncStream<[DocumentReplication]> {
        AsyncStream { continuation in
            let handle = ffi.addDocumentListener(listener: ClosureDocumentListener { continuation.yield($0) })
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// Ids of local documents of `collection` waiting to be pushed.
    public func pendingDocumentIDs(in collection: String = "_default") async throws -> Set<String> {
        try await rethrowingAsync { Set(try await ffi.pendingDocumentIds(collection: collection)) }
    }

    /// Whether the local document `id` of `collection` is waiting to be pushed.
    public func isDocumentPending(_ id: String, in collection: String = "_default") async throws -> Bool {
        try await rethrowingAsync { try await ffi.isDocumentPending(collection: collection, id: id) }
    }
}

final class ClosureStatusListener: ReplicatorStatusListener, @unchecked Sendable {
    private let block: @Sendable (ReplicatorStatus) -> Void
    init(_ block: @escaping @Sendable (ReplicatorStatus) -> Void) { self.block = block }
    func onStatus(status: OutpostBindings.ReplicatorStatus) throws { block(ReplicatorStatus(status)) }
}

final class ClosureDocumentListener: DocumentReplicationListener, @unchecked Sendable {
    private let block: @Sendable ([DocumentReplication]) -> Void
    init(_ block: @escaping @Sendable ([DocumentReplication]) -> Void) { self.block = block }
    func onDocuments(documents: [OutpostBindings.DocumentReplication]) throws { block(documents.map(DocumentReplication.init)) }
}

final class ClosureConflictResolver: ConflictResolver, @unchecked Sendable {
    private let block: @Sendable (Conflict) throws -> Resolution
    init(_ block: @escaping @Sendable (Conflict) throws -> Resolution) { self.block = block }
    func resolve(conflict c: OutpostBindings.Conflict) throws -> OutpostBindings.Resolution {
        let revisions = c.revisions.map { ConflictingRevision(rev: $0.rev, deleted: $0.deleted, json: $0.body) }
        switch try block(Conflict(collection: c.collection, id: c.id, revisions: revisions)) {
        case .keep(let rev): return .keep(rev: rev)
        case .merge(let json): return .merge(body: json)
        case .delete: return .delete
        }
    }
}

final class ClosureReplicationFilter: ReplicationFilter, @unchecked Sendable {
    private let block: @Sendable (FilteredRevision) throws -> Bool
    init(_ block: @escaping @Sendable (FilteredRevision) throws -> Bool) { self.block = block }
    func include(revision r: OutpostBindings.FilteredRevision) throws -> Bool {
        try block(FilteredRevision(id: r.id, rev: r.rev, deleted: r.deleted, json: r.body))
    }
}

public extension Database {
    /// A replicator between this database and `endpoint`, its configuration set by `configure`.
    ///
    /// ```swift
    /// let replicator = try db.replicator(to: .url("wss://192.168.1.20:4984/camp")) {
    ///     $0.authentication = .basic(username: "worker", password: password)
    ///     $0.serverTrust = .pinnedFingerprint(hubFingerprint)
    ///     $0.continuous = true
    /// }
    /// ```
    func replicator(to endpoint: Endpoint, _ configure: (inout ReplicatorConfiguration) -> Void = { _ in }) throws -> Replicator {
        var configuration = ReplicatorConfiguration(endpoint: endpoint)
        configure(&configuration)
        return try Replicator(database: self, configuration: configuration)
    }
}
