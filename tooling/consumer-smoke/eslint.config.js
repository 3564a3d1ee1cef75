import config from '@visual-peft/eslint-config';

// The scripts here are plain Node ES modules.
export default [...config, { files: ['*.mjs', '*.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } }];
