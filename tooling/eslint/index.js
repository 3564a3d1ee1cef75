// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The lint rules every package shares; a package's eslint.config.js re-exports this. */
export default tseslint.config(
  // tsup writes its config bundled to a temporary *.bundled_*.mjs while a build runs beside lint.
  { ignores: ['dist/**', 'coverage/**', '**/__fixtures__/**', '**/*.bundled_*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
);
