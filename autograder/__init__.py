"""Release, grading and feedback tooling of the course (see autograder/README.md)."""
