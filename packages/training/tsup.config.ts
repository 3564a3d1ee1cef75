import { createBrowserAndNodeTsupConfig } from '@visual-peft/tsup-config';

export default createBrowserAndNodeTsupConfig();
