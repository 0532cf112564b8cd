import { NAME, VERSION } from '../protocol/version.ts';

export { NAME, VERSION };
export const USER_AGENT = `${NAME}/${VERSION} node/${process.versions.node}`;
