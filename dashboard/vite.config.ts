/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` and `npm run preview` forward /api to a running `shop up`
// (the gateway, port 3000 unless SHOP_API says otherwise), so the app
// always calls the services on its own origin, as it does when the gateway
// serves it.
const api = process.env.SHOP_API ?? 'http://127.0.0.1:3000';
const proxy = { '/api': { target: api, changeOrigin: true } };

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
  },
  server: { proxy },
  preview: { proxy },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
  },
});
