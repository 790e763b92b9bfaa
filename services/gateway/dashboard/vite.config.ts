import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The operator dashboard, served by the gateway at /dashboard (see src/features/dashboard).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: true,
  },
});
