import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist-deb/**',
      'node_modules/**',
      'data/**',
      'bench/out/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      // hal/ and sync/ never import each other (DESIGN.md: clear rooms).
    },
  },
  {
    files: ['hal/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/sync/**', '**/agent/**'] }],
    },
  },
  {
    files: ['sync/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/hal/**'] }],
    },
  },
  {
    // One writer per state (docs/lifecycle.md): runs and attempts are written by agent/lifecycle only.
    files: ['**/*.ts'],
    ignores: ['agent/lifecycle/**', 'hal/**', 'sync/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/lifecycle/run-writes*'],
              message: 'runs and attempts are written only through agent/lifecycle (RunLifecycle)',
            },
          ],
        },
      ],
    },
  },
);
