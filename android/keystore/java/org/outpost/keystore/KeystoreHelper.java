package org.outpost.keystore;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.spec.AlgorithmParameterSpec;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * Seals and opens secrets with a per-label AES-256-GCM key that lives in the
 * "AndroidKeyStore" provider, so it never leaves the device's secure hardware
 * (or the system keystore daemon) and cannot be exported.
 *
 * <p>Called from Rust (crate outpost-android) through JNI; the Rust side keeps
 * the sealed blobs in the app's private storage. Plain Java with no Android
 * imports: {@code KeyGenParameterSpec} is reached by reflection, so the class
 * also compiles and runs on a desktop JVM, where a stand-in provider registered
 * under the same name plays the part of the Android Keystore in tests.
 *
 * <p>Sealed blob, version 1: {@code [0x01][12-byte IV][ciphertext + 16-byte tag]};
 * the associated data is {@code "outpost-keystore-v1:" + label}, so a blob
 * renamed to another label does not open.
 */
public final class KeystoreHelper {
    /** The JCA provider and key store type of the Android Keystore. */
    public static final String PROVIDER = "AndroidKeyStore";

    static final byte VERSION = 1;
    static final int IV_BYTES = 12;
    static final int TAG_BITS = 128;
    static final String TRANSFORMATION = "AES/GCM/NoPadding";

    /** The blob is not a version-1 sealed blob, or it fails to authenticate. */
    public static final class CorruptBlobException extends GeneralSecurityException {
        private static final long serialVersionUID = 1L;

        CorruptBlobException(String message) {
            super(message);
        }
    }

    /** A sealed blob exists but the key that sealed it is gone from the key store. */
    public static final class KeyMissingException extends GeneralSecurityException {
        private static final long serialVersionUID = 1L;

        KeyMissingException(String message) {
            super(message);
        }
    }

    private KeystoreHelper() {}

    /** The key store alias of the wrapping key for {@code label}. */
    public static String alias(String label) {
        return "org.outpost.identity." + label;
    }

    /**
     * Seals {@code secret} under the key of {@code label}, creating the key if
     * there is none. Wipes {@code secret} (the caller's JNI copy) when done.
     */
    public static byte[] seal(String label, byte[] secret) throws GeneralSecurityException, java.io.IOException {
        try {
            KeyStore store = openStore();
            SecretKey key = existingKey(store, label);
            if (key == null) {
                key = createKey(store, label);
            }
            Cipher cipher = Cipher.getInstance(TRANSFORMATION);
            // The provider picks a fresh random IV (the Android Keystore refuses caller IVs).
            cipher.init(Cipher.ENCRYPT_MODE, key);
            byte[] iv = cipher.getIV();
            if (iv == null || iv.length != IV_BYTES) {
                throw new GeneralSecurityException("the cipher chose an IV of an unexpected size");
            }
            cipher.updateAAD(associatedData(label));
            byte[] sealed = cipher.doFinal(secret);
            byte[] blob = new byte[1 + IV_BYTES + sealed.length];
            blob[0] = VERSION;
            System.arraycopy(iv, 0, blob, 1, IV_BYTES);
            System.arraycopy(sealed, 0, blob, 1 + IV_BYTES, sealed.length);
            return blob;
        } finally {
            Arrays.fill(secret, (byte) 0);
        }
    }

    /** Opens a blob made by {@link #seal} for the same label. */
    public static byte[] open(String label, byte[] blob) throws GeneralSecurityException, java.io.IOException {
        if (blob.length < 1 + IV_BYTES + TAG_BITS / 8) {
            throw new CorruptBlobException("the sealed blob is too short (" + blob.length + " bytes)");
        }
        if (blob[0] != VERSION) {
            throw new CorruptBlobException("the sealed blob has unknown version " + (blob[0] & 0xff));
        }
        KeyStore store = openStore();
        SecretKey key = existingKey(store, label);
        if (key == null) {
            throw new KeyMissingException("its sealing key is gone from " + PROVIDER
                    + " (app data restored on another device, or the key was removed)");
        }
        Cipher cipher = Cipher.getInstance(TRANSFORMATION);
        cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, blob, 1, IV_BYTES));
        cipher.updateAAD(associatedData(label));
        try {
            return cipher.doFinal(blob, 1 + IV_BYTES, blob.length - 1 - IV_BYTES);
        } catch (javax.crypto.AEADBadTagException e) {
            throw new CorruptBlobException("the sealed blob fails to authenticate");
        }
    }

    /** Deletes the key of {@code label}; nothing happens if there is none. */
    public static void deleteKey(String label) throws GeneralSecurityException, java.io.IOException {
        KeyStore store = openStore();
        if (store.containsAlias(alias(label))) {
            store.deleteEntry(alias(label));
        }
    }

    private static KeyStore openStore() throws GeneralSecurityException, java.io.IOException {
        KeyStore store = KeyStore.getInstance(PROVIDER);
        store.load(null);
        return store;
    }

    private static SecretKey existingKey(KeyStore store, String label) throws GeneralSecurityException {
        Key key = store.getKey(alias(label), null);
        if (key == null) {
            return null;
        }
        if (!(key instanceof SecretKey)) {
            throw new GeneralSecurityException("the key store entry for this label is not a secret key");
        }
        return (SecretKey) key;
    }

    private static SecretKey createKey(KeyStore store, String label) throws GeneralSecurityException {
        AlgorithmParameterSpec spec = androidKeySpec(alias(label));
        if (spec != null) {
            // Android: the key is generated inside the Keystore and never leaves it.
            KeyGenerator generator = KeyGenerator.getInstance("AES", PROVIDER);
            generator.init(spec);
            return generator.generateKey();
        }
        if (classExists("android.os.Build")) {
            // Never fall back to a software key on a phone.
            throw new GeneralSecurityException(
                    "KeyGenParameterSpec is missing: Android 6.0 (API 23) or newer is needed");
        }
        // Not Android (desktop tests): generate here and store the entry in the
        // provider registered as "AndroidKeyStore".
        KeyGenerator generator = KeyGenerator.getInstance("AES");
        generator.init(256);
        store.setEntry(alias(label), new KeyStore.SecretKeyEntry(generator.generateKey()), null);
        SecretKey stored = existingKey(store, label);
        if (stored == null) {
            throw new GeneralSecurityException(PROVIDER + " did not keep the new key");
        }
        return stored;
    }

    /**
     * {@code new KeyGenParameterSpec.Builder(alias, ENCRYPT | DECRYPT).setKeySize(256)
     * .setBlockModes(GCM).setEncryptionPaddings(NONE).build()} by reflection, or
     * null where the class does not exist (not Android).
     */
    private static AlgorithmParameterSpec androidKeySpec(String alias) throws GeneralSecurityException {
        if (!classExists("android.security.keystore.KeyGenParameterSpec$Builder")) {
            return null;
        }
        try {
            Class<?> builderClass = Class.forName("android.security.keystore.KeyGenParameterSpec$Builder");
            Class<?> properties = Class.forName("android.security.keystore.KeyProperties");
            int purposes = properties.getField("PURPOSE_ENCRYPT").getInt(null)
                    | properties.getField("PURPOSE_DECRYPT").getInt(null);
            String gcm = (String) properties.getField("BLOCK_MODE_GCM").get(null);
            String noPadding = (String) properties.getField("ENCRYPTION_PADDING_NONE").get(null);
            Constructor<?> constructor = builderClass.getConstructor(String.class, int.class);
            Object builder = constructor.newInstance(alias, purposes);
            builderClass.getMethod("setKeySize", int.class).invoke(builder, 256);
            builderClass.getMethod("setBlockModes", String[].class).invoke(builder, (Object) new String[] {gcm});
            builderClass.getMethod("setEncryptionPaddings", String[].class)
                    .invoke(builder, (Object) new String[] {noPadding});
            Method build = builderClass.getMethod("build");
            return (AlgorithmParameterSpec) build.invoke(builder);
        } catch (ReflectiveOperationException | ClassCastException e) {
            throw new GeneralSecurityException("cannot build a KeyGenParameterSpec: " + e.getClass().getName());
        }
    }

    private static boolean classExists(String name) {
        try {
            Class.forName(name);
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static byte[] associatedData(String label) {
        return ("outpost-keystore-v1:" + label).getBytes(StandardCharsets.UTF_8);
    }
}
