import { describe, expect, it } from 'vitest';
import { isElacsymError } from '../../../src/errors.js';
import { isObjectStoreUrl, parseS3Url } from '../../../src/objstore/object-store.js';

describe('parseS3Url', () => {
  it('splits bucket and prefix, normalising the prefix to "" or one trailing slash', () => {
    expect(parseS3Url('s3://bucket')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://bucket/')).toEqual({ bucket: 'bucket', prefix: '' });
    expect(parseS3Url('s3://my.bucket-1/a/b')).toEqual({ bucket: 'my.bucket-1', prefix: 'a/b/' });
    expect(parseS3Url('s3://bucket/a/b/')).toEqual({ bucket: 'bucket', prefix: 'a/b/' });
    expect(parseS3Url('s3://bucket//a///b')).toEqual({ bucket: 'bucket', prefix: 'a/b/' });
  });

  it('refuses what is not a usable s3:// URL with a USAGE error', () => {
    for (const bad of ['s3://', 's3:///x', 's3://UpperCase/x', 's3://ab', 's3://a..b', 's3://bucket/../x', 's3://bucket/x?y=1', 'http://bucket/x', 'S3://bucket', 's3://-bucket']) {
      expect(() => parseS3Url(bad), bad).toThrow();
      try {
        parseS3Url(bad);
      } catch (e) {
        expect(isElacsymError(e, 'USAGE'), bad).toBe(true);
      }
    }
  });

  it('tells URLs from local paths', () => {
    expect(isObjectStoreUrl('s3://b/p')).toBe(true);
    expect(isObjectStoreUrl('./s3:/x')).toBe(false);
    expect(isObjectStoreUrl('/data/elacsym')).toBe(false);
  });
});
