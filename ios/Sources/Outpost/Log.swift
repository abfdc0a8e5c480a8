// Outpost's log: a level and a sink (the unified log through `OutpostLog.osLog`,
// or the app's own logger).
@_implementationOnly import OutpostBindings
import Foundation
import os

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
    /// How severe a message is.
    public enum Level: Sendable, Comparable {
        case verbose, debug, info, warning, error, none
    }

    public typealias Sink = @Sendable (_ level: Level, _ domain: String, _ message: String) -> Void

    private static let state = LogState()

    /// The least severe level passed to `sink`; `.warning` by default.
    public static var level: Level {
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

/// Each public level with the generated one it stands for.
private let levels: [(level: OutpostLog.Level, generated: LogLevel)] = [
    (.verbose, .verbose), (.debug, .debug), (.info, .info), (.warning, .warning), (.error, .error), (.none, .none),
]

/// `OutpostLog`'s level and sink behind a lock, installed in the Rust library on each change.
private final class LogState: @unchecked Sendable {
    struct Values {
        var level: OutpostLog.Level = .warning
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
        let level = levels.first { $0.level == values.level }!.generated
        setLogSink(sink: values.sink.map { ClosureLogSink($0) }, level: level)
    }
}

final class ClosureLogSink: LogSink, @unchecked Sendable {
    private let block: OutpostLog.Sink
    init(_ block: @escaping OutpostLog.Sink) { self.block = block }
    func log(level: LogLevel, domain: String, message: String) throws {
        block(levels.first { $0.generated == level }!.level, domain, message)
    }
}
