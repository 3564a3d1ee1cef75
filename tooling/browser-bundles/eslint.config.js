export { default } from '@visual-peft/eslint-config';
