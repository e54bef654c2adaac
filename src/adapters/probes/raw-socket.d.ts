// The raw-socket package ships no types. Only what the icmp probe uses is declared,
// after node_modules/raw-socket/README.md and index.js (v1.8).
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';

  namespace raw {
    interface RawSocketOptions {
      addressFamily?: number;
      protocol?: number;
      bufferSize?: number;
      generateChecksums?: boolean;
      checksumOffset?: number;
    }

    interface RawSocket extends EventEmitter {
      readonly recvPaused: boolean;
      readonly sendPaused: boolean;
      /** afterCallback gets (error | null, bytesSent). */
      send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: (error: Error | null, bytes: number) => void): this;
      close(): this;
      pauseRecv(): this;
      resumeRecv(): this;
      pauseSend(): this;
      resumeSend(): this;
      on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
      on(event: 'error', listener: (error: Error) => void): this;
      on(event: 'close', listener: () => void): this;
    }

    interface RawSocketModule {
      createSocket(options?: RawSocketOptions): RawSocket;
      AddressFamily: { IPv4: number; IPv6: number };
      Protocol: { None: number; ICMP: number; TCP: number; UDP: number; ICMPv6: number };
      createChecksum(...buffers: Buffer[]): number;
    }
  }

  const raw: raw.RawSocketModule;
  export = raw;
}
