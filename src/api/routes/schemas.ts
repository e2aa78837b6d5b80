/** Schemas the routes of more than one resource use. */
import { Type } from '@sinclair/typebox';

/** The `:id` of a route: an object's id (a tenant's also its name). */
export const Id = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

/** `?skip=&limit=` of a listing, to spread into its query's schema. */
export const Paging = {
  skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
};

/** A listing's query when paging is all it takes. */
export const PagingQuery = Type.Object(Paging, { additionalProperties: false });
