// Android-only start-up: loads the native library and hands the Android
// Keystore glue (crate outpost-android) the app's private key directory, so
// listener identities (ListenerConfig.identityLabel) are sealed by a
// non-exportable Keystore key; and the Logcat log sink. Compiled against
// android-all by tests/kotlin/android, where the Logcat sink runs under
// Robolectric (init itself needs the Android build of the library).
package org.outpost

import android.content.Context
import android.util.Log
import java.io.File
import org.outpost.keystore.Native

object OutpostAndroid {
    @Volatile private var initialised = false

    /** The Logcat tag of [logcat]'s messages. */
    const val LOG_TAG = "Outpost"

    /**
     * A sink for [OutpostLog] writing to Logcat under [LOG_TAG], each message prefixed with its
     * domain. [init] installs it unless the app has set a sink of its own.
     */
    @JvmStatic
    val logcat: (LogLevel, String, String) -> Unit = { level, domain, message ->
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARNING -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.VERBOSE, LogLevel.NONE -> Log.VERBOSE
        }
        Log.println(priority, LOG_TAG, "$domain: $message")
    }

    /**
     * Call once, e.g. in Application.onCreate, before using a stored identity: loads the
     * library, points the Keystore glue at the app's private key directory, and logs Outpost's
     * warnings and errors to Logcat (see [OutpostLog]).
     */
    @JvmStatic
    @Synchronized
    fun init(context: Context) {
        if (initialised) return
        System.loadLibrary("outpost_ffi")
        Native.nativeInit(File(context.applicationContext.filesDir, "outpost-keys").absolutePath)
        if (OutpostLog.sink == null) OutpostLog.sink = logcat
        initialised = true
    }
}
