import shared from '@visual-peft/eslint-config';

// The browser test's build and downloads land in test-output/.
export default [{ ignores: ['test-output/**'] }, ...shared];
