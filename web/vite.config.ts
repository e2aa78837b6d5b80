// The web UI's build: `vite build web` writes web/dist (served by `cairn server` at /).
// `vite web` serves it for development with the API proxied to a running server
// (CAIRN_API, default http://127.0.0.1:8470).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.CAIRN_API;

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 600 },
  server: { proxy: { '/api': { target: api ?? 'http://127.0.0.1:8470', changeOrigin: false } } },
});
