import config from '@visual-peft/eslint-config';

// The scripts here are plain Node ES modules.
export default [...config, { files: ['*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } }];
