// @ts-check
import eslint from '@eslint/js';
import eslintConfigPrettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // test/fixtures/*/ are apps with their own package.json and tsconfig.json, type-checked and
    // tested against the packed package by test/fixtures/run.sh (their .ts files are not in
    // tsconfig.spec.json); test/.snippets/ holds the documentation's code blocks while they compile.
    ignores: [
      'dist/**',
      '.before/**',
      'sample-app/dist/**',
      'node_modules/**',
      'coverage/**',
      '.ci/node22/**',
      'test/.snippets/**',
      'test/fixtures/*/**',
    ],
  },
  eslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: { ...globals.node },
      sourceType: 'module',
      parserOptions: {
        // One program for everything: tsconfig.json leaves out test/, sample-app/ and
        // vitest.config.ts, which the project service would then not find.
        project: ['./tsconfig.spec.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // `useFactory: (...args: any[]) => ...` mirrors Nest's own provider types; other `any`s are still reported.
      '@typescript-eslint/no-explicit-any': ['error', { ignoreRestArgs: true }],
      // Nest's own API types handlers and controllers as `Function` (ExecutionContext.getHandler(), Reflector).
      '@typescript-eslint/no-unsafe-function-type': 'off',
      // `list[i]!`, `match[1]!` and `value as unknown` are written on purpose, to mark what is known
      // to be present and what is untrusted input; without noUncheckedIndexedAccess the rule calls them unnecessary.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Re-rejecting a caught error (`catch (error) { return Promise.reject(error); }`) is fine,
      // as only-throw-error already allows for `throw error`.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read JSON, child-process output and axios answers as `any`, and destructure helpers
      // off their fixtures (`const { call } = await start()`).
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
      // Test doubles implement async interfaces without awaiting anything.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { ...globals.node },
      sourceType: 'module',
    },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  eslintConfigPrettier,
);
