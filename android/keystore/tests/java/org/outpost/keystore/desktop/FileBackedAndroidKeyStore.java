package org.outpost.keystore.desktop;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.KeyStoreSpi;
import java.security.Provider;
import java.security.Security;
import java.security.cert.Certificate;
import java.util.Date;
import java.util.Enumeration;

/**
 * A desktop stand-in for the Android Keystore, for host JVM tests only: a JCA
 * provider named "AndroidKeyStore" whose key store keeps its entries in a
 * PKCS#12 file and writes it after every change (as the Android Keystore
 * persists without {@code store()}), so keys survive across processes.
 */
public final class FileBackedAndroidKeyStore extends Provider {
    private static final long serialVersionUID = 1L;
    private static final char[] FILE_PASSWORD = "outpost-desktop-test-only".toCharArray();
    private static volatile Path file;
    /**
     * One store per process, shared by every KeyStore instance, like the
     * Android Keystore's single daemon: separate snapshots of the file would
     * overwrite each other's changes.
     */
    private static KeyStore shared;

    private FileBackedAndroidKeyStore() {
        super("AndroidKeyStore", "1.0", "Outpost desktop stand-in for the Android Keystore (tests only)");
        putService(new Service(this, "KeyStore", "AndroidKeyStore", Spi.class.getName(), null, null) {
            @Override
            public Object newInstance(Object constructorParameter) {
                return new Spi();
            }
        });
    }

    /** Registers the provider first in line, keeping its entries in {@code path}. */
    public static synchronized void install(String path) {
        file = Paths.get(path);
        if (Security.getProvider("AndroidKeyStore") == null) {
            Security.insertProviderAt(new FileBackedAndroidKeyStore(), 1);
        }
    }

    /** Removes an entry behind the helper's back, as a device reset or restore would. */
    public static void removeEntry(String alias) throws GeneralSecurityException, IOException {
        KeyStore store = KeyStore.getInstance("AndroidKeyStore");
        store.load(null);
        store.deleteEntry(alias);
    }

    /** The key store: the shared PKCS#12 store, saved to the file after every change. */
    public static final class Spi extends KeyStoreSpi {
        private KeyStore inner;

        @Override
        public void engineLoad(InputStream stream, char[] password) throws IOException {
            synchronized (FileBackedAndroidKeyStore.class) {
                if (shared == null) {
                    shared = readFile();
                }
                inner = shared;
            }
        }

        private static KeyStore readFile() throws IOException {
            try {
                KeyStore store = KeyStore.getInstance("PKCS12");
                Path path = file;
                if (path != null && Files.exists(path)) {
                    try (InputStream in = Files.newInputStream(path)) {
                        store.load(in, FILE_PASSWORD);
                    }
                } else {
                    store.load(null, FILE_PASSWORD);
                }
                return store;
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot read the stand-in key store", e);
            }
        }

        /** Writes the store; callers hold the class lock, so no change is lost. */
        private void persist() throws KeyStoreException {
            Path path = file;
            if (path == null) {
                throw new KeyStoreException("FileBackedAndroidKeyStore.install was not called");
            }
            Path temp = path.resolveSibling(path.getFileName() + ".tmp");
            try {
                try (OutputStream out = Files.newOutputStream(temp)) {
                    inner.store(out, FILE_PASSWORD);
                }
                Files.move(temp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException | GeneralSecurityException e) {
                throw new KeyStoreException("cannot write the stand-in key store", e);
            }
        }

        @Override
        public Key engineGetKey(String alias, char[] password) throws java.security.NoSuchAlgorithmException,
                java.security.UnrecoverableKeyException {
            try {
                return inner.getKey(alias, FILE_PASSWORD);
            } catch (KeyStoreException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void engineSetEntry(String alias, KeyStore.Entry entry, KeyStore.ProtectionParameter protection)
                throws KeyStoreException {
            synchronized (FileBackedAndroidKeyStore.class) {
                inner.setEntry(alias, entry, new KeyStore.PasswordProtection(FILE_PASSWORD));
                persist();
            }
        }

        @Override
        public void engineSetKeyEntry(String alias, Key key, char[] password, Certificate[] chain)
                throws KeyStoreException {
            synchronized (FileBackedAndroidKeyStore.class) {
                inner.setKeyEntry(alias, key, FILE_PASSWORD, chain);
                persist();
            }
        }

        @Override
        public void engineSetKeyEntry(String alias, byte[] key, Certificate[] chain) throws KeyStoreException {
            throw new KeyStoreException("not supported by the stand-in");
        }

        @Override
        public void engineSetCertificateEntry(String alias, Certificate cert) throws KeyStoreException {
            synchronized (FileBackedAndroidKeyStore.class) {
                inner.setCertificateEntry(alias, cert);
                persist();
            }
        }

        @Override
        public void engineDeleteEntry(String alias) throws KeyStoreException {
            synchronized (FileBackedAndroidKeyStore.class) {
                inner.deleteEntry(alias);
                persist();
            }
        }

        @Override
        public Certificate[] engineGetCertificateChain(String alias) {
            return call(() -> inner.getCertificateChain(alias));
        }

        @Override
        public Certificate engineGetCertificate(String alias) {
            return call(() -> inner.getCertificate(alias));
        }

        @Override
        public Date engineGetCreationDate(String alias) {
            return call(() -> inner.getCreationDate(alias));
        }

        @Override
        public Enumeration<String> engineAliases() {
            return call(inner::aliases);
        }

        @Override
        public boolean engineContainsAlias(String alias) {
            return call(() -> inner.containsAlias(alias));
        }

        @Override
        public int engineSize() {
            return call(inner::size);
        }

        @Override
        public boolean engineIsKeyEntry(String alias) {
            return call(() -> inner.isKeyEntry(alias));
        }

        @Override
        public boolean engineIsCertificateEntry(String alias) {
            return call(() -> inner.isCertificateEntry(alias));
        }

        @Override
        public String engineGetCertificateAlias(Certificate cert) {
            return call(() -> inner.getCertificateAlias(cert));
        }

        @Override
        public void engineStore(OutputStream stream, char[] password) throws IOException {
            try {
                synchronized (FileBackedAndroidKeyStore.class) {
                    persist();
                }
            } catch (KeyStoreException e) {
                throw new IOException(e);
            }
        }

        private interface StoreCall<T> {
            T run() throws KeyStoreException;
        }

        /** The inner store is always loaded here, so its KeyStoreException cannot happen. */
        private static <T> T call(StoreCall<T> call) {
            try {
                return call.run();
            } catch (KeyStoreException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
