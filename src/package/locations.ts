// Every file the code reads from its own package, named in one place. The same code runs from src/
// (the tests), as tsc's modules in dist/ (the library) and inside the chunks of the bundled CLI in
// dist/cli/ (scripts/bundle-cli.mjs), so a path relative to the module that reads it would hold in
// one of these only. This module is one folder deep under src/ (dist/package/ once built), as every
// chunk of the bundle is one folder deep under dist/, so the two URLs below hold in all three.
const CODE = new URL('../', import.meta.url); // src/ under the tests, dist/ once built
const ROOT = new URL('../../', import.meta.url); // the package (the repository)

/** What template names are relative to: the templates sit beside their modules (the build copies them into dist/). */
export const TEMPLATE_DIR = CODE;
/** The templates parsed at build time (scripts/build-templates.mjs); absent under src/. */
export const PARSED_TEMPLATES = new URL('render/templates.json', CODE);
/** The profile validator compiled at build time (scripts/build-validator.mjs); absent under src/. */
export const PRECOMPILED_VALIDATOR = new URL('profile/profile-validator.cjs', CODE);
export const DEFAULT_PROFILE = new URL('profile/default-profile.yaml', CODE);
/** The node scripts' parts and the node files shipped as they are. */
export const NODE_DIR = new URL('node/', ROOT);
/** The Packer HCL2 sources. */
export const PACKER_DIR = new URL('packer/', ROOT);
/** The NodeConfig CRD (upstream's, schemas/upstream/README.md): the launch-template merge checks a user's NodeConfig by it. */
export const NODECONFIG_CRD = new URL('schemas/upstream/node.eks.aws_nodeconfigs.yaml', ROOT);
