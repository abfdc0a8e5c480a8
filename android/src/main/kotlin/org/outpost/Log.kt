// Outpost's log: a level and a sink (Logcat on Android through OutpostAndroid,
// or the app's own logger).
package org.outpost

/** How severe a log message is. */
typealias LogLevel = org.outpost.ffi.LogLevel

/**
 * Outpost's log (like Couchbase Lite's `LogSinks`): messages at [level] and above go to [sink],
 * called on the thread that logged (often a replication thread), so it must return quickly.
 * Nothing is logged until a sink is set; on Android, `OutpostAndroid.init` sets Logcat.
 * Passwords are never logged, and credentials in URLs are masked.
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
        org.outpost.ffi.setLogSink(block?.let {
            object : org.outpost.ffi.LogSink {
                override fun log(level: LogLevel, domain: String, message: String) = it(level, domain, message)
            }
        }, level)
    }
}
