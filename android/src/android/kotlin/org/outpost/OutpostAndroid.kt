// Android-only start-up: loads the native library and hands the Android
// Keystore glue (crate outpost-android) the app's private key directory, so
// listener identities (ListenerConfig.identityLabel) are sealed by a
// non-exportable Keystore key. Not part of the desktop JVM tests, which have
// no android.content.Context.
package org.outpost

import android.content.Context
import java.io.File
import org.outpost.keystore.Native

object OutpostAndroid {
    @Volatile private var initialised = false

    /** Call once, e.g. in Application.onCreate, before using a stored identity. */
    @JvmStatic
    @Synchronized
    fun init(context: Context) {
        if (initialised) return
        System.loadLibrary("outpost_ffi")
        Native.nativeInit(File(context.applicationContext.filesDir, "outpost-keys").absolutePath)
        initialised = true
    }
}
