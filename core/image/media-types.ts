export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  schema1: 'application/vnd.docker.distribution.manifest.v1+json',
  schema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
} as const;

/** What we ask registries for: every manifest kind, schema 1 last so we can name it in an error. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerList,
  MediaType.dockerManifest,
  `${MediaType.schema1Signed};q=0.1`,
  `${MediaType.schema1};q=0.1`,
].join(', ');

export type Compression = 'gzip' | 'zstd' | 'none';

/** How a layer's bytes are compressed, from its media type; undefined for non-layer types. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayer:
    case MediaType.ociLayerGzip:
    case MediaType.ociLayerNondistGzip:
      return 'gzip';
    case MediaType.ociLayerZstd:
    case MediaType.ociLayerNondistZstd:
      return 'zstd';
    case MediaType.dockerLayerTar:
    case MediaType.ociLayerTar:
    case MediaType.ociLayerNondistTar:
      return 'none';
    default:
      return undefined;
  }
}

/** The OCI media type a Docker one becomes in a manifest converted to OCI. */
export const DOCKER_TO_OCI: Record<string, string> = {
  [MediaType.dockerManifest]: MediaType.ociManifest,
  [MediaType.dockerList]: MediaType.ociIndex,
  [MediaType.dockerConfig]: MediaType.ociConfig,
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayerTar]: MediaType.ociLayerTar,
  [MediaType.dockerForeignLayer]: MediaType.ociLayerNondistGzip,
};
