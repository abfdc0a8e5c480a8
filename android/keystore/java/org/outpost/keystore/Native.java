package org.outpost.keystore;

/**
 * The entry point that connects the Rust key store (crate outpost-android) to
 * this JVM. uniffi loads the native library through JNA, which does not run
 * {@code JNI_OnLoad}, so the app calls {@link #nativeInit} once at start-up,
 * after {@code System.loadLibrary} of the library that contains the Rust code
 * (JNI resolves native methods only in libraries loaded that way):
 *
 * <pre>{@code
 * System.loadLibrary("outpost_ffi");
 * Native.nativeInit(new File(context.getFilesDir(), "outpost-keys").getAbsolutePath());
 * }</pre>
 */
public final class Native {
    private Native() {}

    /**
     * Remembers this JVM, loads {@link KeystoreHelper} through this class's
     * loader, and keeps sealed blobs in {@code keyDir} (created if missing,
     * private to the app). Calling it again replaces the directory.
     *
     * @throws RuntimeException if the directory is unusable or the helper class cannot be loaded
     */
    public static native void nativeInit(String keyDir);
}
