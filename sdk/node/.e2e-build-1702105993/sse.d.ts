export declare const MAX_LINE: number;
export declare const MAX_DATA: number;
/** One dispatched block: an event (name and data) or a heartbeat (comment). */
export interface Block {
    name: string;
    id: string;
    data: string | null;
    comment: boolean;
}
export declare class MalformedStreamError extends Error {
    name: string;
}
export declare class SSEDecoder {
    #private;
    /** Feeds text and returns the blocks it completes. Throws MalformedStreamError. */
    push(text: string): Block[];
    /** Ends the input; throws when it ends inside a block or a line. */
    end(): void;
}
/** Reports whether s is a cursor of the stream (an event log ID, maybe with an index). */
export declare function isCursor(s: string): boolean;
