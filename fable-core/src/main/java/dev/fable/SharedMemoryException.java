package dev.fable;

/** Shared memory could not be set up (for example /dev/shm is too small). */
public class SharedMemoryException extends FableException {
    /**
     * Makes the exception with its message.
     *
     * @param message what happened and, where it helps, what to do about it
     */
    public SharedMemoryException(String message) {
        super(message);
    }

    /**
     * Makes the exception with its message and the exception that caused it.
     *
     * @param message what happened and, where it helps, what to do about it
     * @param cause   the underlying exception (may be null)
     */
    public SharedMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
