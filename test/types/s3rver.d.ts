// The few members of s3rver (a devDependency: an S3 emulator that ignores conditional creates, used by
// test/cli/doctor.test.ts to prove that `doctor` refuses such a store) that the tests use.
declare module 's3rver' {
  interface S3rverOptions {
    port?: number;
    address?: string;
    silent?: boolean;
    directory: string;
    configureBuckets?: { name: string }[];
  }
  export default class S3rver {
    constructor(o: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
