package dev.fable;

/** Shared memory could not be set up (for example /dev/shm is too small). */
public class SharedMemoryException extends FableException {
    public SharedMemoryException(String message) {
        super(message);
    }

    public SharedMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
